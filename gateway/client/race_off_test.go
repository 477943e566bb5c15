//go:build !race

package client

// stackFactor: the race detector doubles the stack a goroutine needs.
const stackFactor = 1
