// Command hello prints a greeting; testbin's test builds it.
package main

import "fmt"

func main() { fmt.Println("hello from testbin") }
