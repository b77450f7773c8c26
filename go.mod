module github.com/zerofs-go/zerofsd

go 1.26
