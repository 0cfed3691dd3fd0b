//go:build !hostgate_static

package hostgate

// The installed library: pkg-config gives the include directory of hostgate.h and -lhostgate,
// which the linker resolves to the shared library (libhostgate.so.0.1 at run time).

/*
#cgo pkg-config: hostgate
*/
import "C"
