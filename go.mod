module github.com/incluster/incluster

go 1.26
