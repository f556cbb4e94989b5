module motiad.dev/sdk

go 1.19
