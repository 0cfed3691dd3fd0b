//go:build hostgate_static

package hostgate

// The static archive copied next to this file, and the header of the same checkout: no
// installation needed. The system libraries are the ones `hostgate.pc` lists in Libs.private.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/libhostgate.a -lpthread -ldl -lm
*/
import "C"
