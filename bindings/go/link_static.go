//go:build hostgate_static

package hostgate

// The static archive copied next to this file, and the header of the same checkout: no
// installation needed. Of the system libraries rustc reports (hostgate.pc's Libs.private), the
// C compiler links the others itself (libc, libgcc_s; librt and libutil are part of glibc 2.34+).

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/libhostgate.a -lpthread -ldl -lm
*/
import "C"
