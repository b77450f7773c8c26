module example.com/hellomod

go 1.26
