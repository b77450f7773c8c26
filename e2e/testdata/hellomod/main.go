package main

import (
	"fmt"

	"example.com/hellomod/greet"
)

func main() {
	fmt.Println(greet.Hello("nfs"))
}
