module example.invalid/hostgate/bindings/go

go 1.19
