// Package greet is a second package so that the build links more than one.
package greet

// Hello greets who.
func Hello(who string) string { return "hello, " + who }
