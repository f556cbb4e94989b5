module motiad.dev/conformance

go 1.19
