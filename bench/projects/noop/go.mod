module noopbench

go 1.19
