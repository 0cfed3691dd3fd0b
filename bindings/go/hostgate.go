// Package hostgate is the Go binding of hostgate: allow/deny verdicts for destination host
// names, computed by the Rust engine through its C ABI (include/hostgate.h).
//
// By default the package links the installed C library found by pkg-config (`hostgate.pc`,
// installed by `cargo cinstall`; see bindings/go/README.md). With the build tag
// hostgate_static it links bindings/go/libhostgate.a instead, with the header from the
// repository's include/:
//
//	cargo build --release -p hostgate-ffi && cp target/release/libhostgate.a bindings/go/
//	go test -tags hostgate_static ./...
//
// An *Engine is immutable and safe for concurrent use by many goroutines. To reload policy,
// Compile a new Engine, swap it in (for example with atomic.Pointer or atomic.Value) and let
// the old one be collected (a finalizer frees it) or Close it once nothing uses it.
package hostgate

/*
#include <stdlib.h>
#include "hostgate.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Action is allow or deny.
type Action uint32

// The actions. Deny is the zero value: a zero Verdict fails closed.
const (
	Deny  Action = C.HOSTGATE_ACTION_DENY
	Allow Action = C.HOSTGATE_ACTION_ALLOW
)

func (a Action) String() string { return C.GoString(C.hostgate_action_name(C.hostgate_action(a))) }

// Reason says why a verdict is what it is.
type Reason uint32

// The reasons.
const (
	Matched     Reason = C.HOSTGATE_REASON_MATCHED
	Default     Reason = C.HOSTGATE_REASON_DEFAULT
	InvalidName Reason = C.HOSTGATE_REASON_INVALID_NAME
	NoName      Reason = C.HOSTGATE_REASON_NO_NAME
)

func (r Reason) String() string { return C.GoString(C.hostgate_reason_name(C.hostgate_reason(r))) }

// Via is where a name came from; ViaAny means unknown.
type Via uint32

// The sources.
const (
	ViaAny     Via = C.HOSTGATE_VIA_ANY
	ViaTLS     Via = C.HOSTGATE_VIA_TLS
	ViaHTTP    Via = C.HOSTGATE_VIA_HTTP
	ViaConnect Via = C.HOSTGATE_VIA_CONNECT
	ViaDNS     Via = C.HOSTGATE_VIA_DNS
)

func (v Via) String() string { return C.GoString(C.hostgate_via_name(C.hostgate_via(v))) }

// Policy is a policy of an Engine, resolved once by name with Engine.Policy.
type Policy uint32

// Verdict is the answer to one query.
type Verdict struct {
	Action Action
	Reason Reason
	Policy Policy
	Rule   int32  // the deciding rule's index in its policy, -1 when none
	Line   uint32 // its line in the policy text, 0 when none
	RuleID string // its id, "" when none
}

// Allowed reports whether the action is Allow.
func (v Verdict) Allowed() bool { return v.Action == Allow }

// Query is one name of a batch.
type Query struct {
	Name string
	Port uint16 // 0 = none (a DNS question)
	Via  Via
}

// Error is a failed call: Code is the C hostgate_result.
type Error struct {
	Op   string
	Code uint32
	// Detail is the library's message, when it gave one (for example why a file cannot be read).
	Detail string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("hostgate: %s: %s", e.Op, C.GoString(C.hostgate_result_name(C.hostgate_result(e.Code))))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Result codes worth testing for with errors.As.
const (
	ResultNullArgument    = uint32(C.HOSTGATE_RESULT_NULL_ARGUMENT)
	ResultInvalidArgument = uint32(C.HOSTGATE_RESULT_INVALID_ARGUMENT)
	ResultUnknownPolicy   = uint32(C.HOSTGATE_RESULT_UNKNOWN_POLICY)
	ResultIOError         = uint32(C.HOSTGATE_RESULT_IO_ERROR)
	ResultEngineFileError = uint32(C.HOSTGATE_RESULT_ENGINE_FILE_ERROR)
)

// Diagnostic is one error in a policy text.
type Diagnostic struct {
	Line, Column uint32
	Message      string
}

// CompileError lists every error in a policy text; Line and Column locate the first.
type CompileError struct {
	Line, Column uint32
	Errors       []Diagnostic
	// File is the path given to Load ("" for Compile); Text is then every error as
	// FILE:LINE:COL: message, one per line, exactly as the hostgate CLI prints it.
	File, Text string
}

func (e *CompileError) Error() string {
	if e.File != "" {
		return e.Text
	}
	parts := make([]string, len(e.Errors))
	for i, d := range e.Errors {
		parts[i] = fmt.Sprintf("%d:%d: %s", d.Line, d.Column, d.Message)
	}
	return "hostgate: policy does not compile: " + strings.Join(parts, "; ")
}

// Engine is a compiled, immutable set of policies.
type Engine struct {
	ptr *C.hostgate_engine
	ids sync.Map // uint64(policy)<<32 | rule -> string
}

// strPtr returns a C pointer to a Go string's bytes (NULL for ""), without copying: the first
// word of a string header is its data pointer (unsafe.StringData needs Go 1.20). The bytes hold
// no Go pointers, so passing them to C for the duration of a call is allowed by the cgo rules.
func strPtr(s string) *C.char {
	if len(s) == 0 {
		return nil
	}
	return *(**C.char)(unsafe.Pointer(&s))
}

// Compile compiles policy text. A *CompileError reports what is wrong and where.
func Compile(text string) (*Engine, error) {
	var ptr *C.hostgate_engine
	var cerr *C.hostgate_error
	r := C.hostgate_engine_compile(strPtr(text), C.size_t(len(text)), &ptr, &cerr)
	runtime.KeepAlive(text)
	return newEngine(r, ptr, cerr, "compile", "")
}

// Load reads and compiles a policy file through the library's loading path, the same as the
// hostgate CLI's: a *CompileError's Error() is every error as FILE:LINE:COL: message with the
// path as given; a file that cannot be read gives an *Error with Code ResultIOError whose
// Detail says why.
func Load(path string) (*Engine, error) {
	var ptr *C.hostgate_engine
	var cerr *C.hostgate_error
	r := C.hostgate_engine_load(strPtr(path), C.size_t(len(path)), &ptr, &cerr)
	runtime.KeepAlive(path)
	return newEngine(r, ptr, cerr, "load", path)
}

// LoadFrom reads a policy file written in format ("hostgate", or an import format such as
// "cilium", as the CLI's --from takes them) through the library's loading path, as Load does.
// An unknown format gives an *Error with Code ResultInvalidArgument whose Detail lists the
// known formats.
func LoadFrom(format, path string) (*Engine, error) {
	var ptr *C.hostgate_engine
	var cerr *C.hostgate_error
	r := C.hostgate_engine_load_from(strPtr(format), C.size_t(len(format)), strPtr(path), C.size_t(len(path)), &ptr, &cerr)
	runtime.KeepAlive(format)
	runtime.KeepAlive(path)
	return newEngine(r, ptr, cerr, "load", path)
}

// Open opens an engine file (written by `hostgate compile` or Write) by mapping it: no compile,
// its arrays shared with every process that maps the same file. A file that is not an engine
// file, or cannot be opened (another version or machine, truncated, damaged), gives an *Error
// with Code ResultEngineFileError whose Detail names the file and what is wrong.
func Open(path string) (*Engine, error) {
	var ptr *C.hostgate_engine
	var cerr *C.hostgate_error
	r := C.hostgate_engine_open(strPtr(path), C.size_t(len(path)), &ptr, &cerr)
	runtime.KeepAlive(path)
	return newEngine(r, ptr, cerr, "open", path)
}

// Write writes the engine as an engine file, atomically: a temporary file in the same
// directory, renamed over path, so a reader sees the old file or the new one, never part of one.
func (e *Engine) Write(path string) error {
	var cerr *C.hostgate_error
	r := C.hostgate_engine_write(e.ptr, strPtr(path), C.size_t(len(path)), &cerr)
	runtime.KeepAlive(path)
	runtime.KeepAlive(e)
	if r != C.HOSTGATE_RESULT_OK {
		detail := ""
		if cerr != nil {
			detail = C.GoString(C.hostgate_error_message(cerr))
			C.hostgate_error_free(cerr)
		}
		return &Error{Op: "write", Code: uint32(r), Detail: detail}
	}
	return nil
}

// newEngine wraps a compile or load result; it frees cerr.
func newEngine(r C.hostgate_result, ptr *C.hostgate_engine, cerr *C.hostgate_error, op, file string) (*Engine, error) {
	if r != C.HOSTGATE_RESULT_OK {
		if cerr == nil {
			return nil, &Error{Op: op, Code: uint32(r)}
		}
		defer C.hostgate_error_free(cerr)
		text := C.GoString(C.hostgate_error_message(cerr))
		if r != C.HOSTGATE_RESULT_COMPILE_ERROR && r != C.HOSTGATE_RESULT_INVALID_UTF8 {
			return nil, &Error{Op: op, Code: uint32(r), Detail: text}
		}
		ce := &CompileError{Line: uint32(C.hostgate_error_line(cerr)), Column: uint32(C.hostgate_error_column(cerr)), File: file}
		if file != "" {
			ce.Text = text
		}
		n := int(C.hostgate_error_count(cerr))
		for i := 0; i < n; i++ {
			var line, col C.uint32_t
			var msg *C.char
			if C.hostgate_error_get(cerr, C.size_t(i), &line, &col, &msg) == C.HOSTGATE_RESULT_OK {
				ce.Errors = append(ce.Errors, Diagnostic{uint32(line), uint32(col), C.GoString(msg)})
			}
		}
		return nil, ce
	}
	e := &Engine{ptr: ptr}
	runtime.SetFinalizer(e, (*Engine).Close)
	return e, nil
}

// Warnings are the policy's warnings, one line each, as the hostgate CLI prints them (with the
// file name for an engine from Load).
func (e *Engine) Warnings() []string {
	n := int(C.hostgate_engine_warning_count(e.ptr))
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, C.GoString(C.hostgate_engine_warning(e.ptr, C.size_t(i))))
	}
	runtime.KeepAlive(e)
	return out
}

// DefaultPolicy is the policy used when none is named: "default" when the text has statements
// outside any policy block, else the first policy.
func (e *Engine) DefaultPolicy() Policy {
	var idx C.uint32_t
	C.hostgate_engine_default_policy(e.ptr, &idx)
	runtime.KeepAlive(e)
	return Policy(idx)
}

// Close frees the engine now instead of at garbage collection. It must not be called while
// another goroutine still uses the engine; calling it twice is harmless.
func (e *Engine) Close() {
	if e.ptr != nil {
		C.hostgate_engine_free(e.ptr)
		e.ptr = nil
		runtime.SetFinalizer(e, nil)
	}
}

// Policy resolves a policy by name; do it once and keep the Policy.
func (e *Engine) Policy(name string) (Policy, error) {
	var idx C.uint32_t
	r := C.hostgate_engine_policy(e.ptr, strPtr(name), C.size_t(len(name)), &idx)
	runtime.KeepAlive(name)
	runtime.KeepAlive(e)
	if r != C.HOSTGATE_RESULT_OK {
		return 0, &Error{Op: fmt.Sprintf("policy %q", name), Code: uint32(r)}
	}
	return Policy(idx), nil
}

func (e *Engine) verdict(v *C.hostgate_verdict) Verdict {
	out := Verdict{
		Action: Action(v.action),
		Reason: Reason(v.reason),
		Policy: Policy(v.policy),
		Rule:   int32(v.rule),
		Line:   uint32(v.line),
	}
	if v.rule >= 0 && v.rule_id != nil {
		key := uint64(v.policy)<<32 | uint64(uint32(v.rule))
		if id, ok := e.ids.Load(key); ok {
			out.RuleID = id.(string)
		} else {
			id := C.GoStringN(v.rule_id, C.int(v.rule_id_len))
			e.ids.Store(key, id)
			out.RuleID = id
		}
	}
	return out
}

// Check checks one name (raw, as received; the engine normalizes it). port 0 means none.
// An invalid name is not an error: it is a Deny verdict with Reason InvalidName.
func (e *Engine) Check(p Policy, name string, port uint16, via Via) (Verdict, error) {
	var v C.hostgate_verdict
	r := C.hostgate_check(e.ptr, C.uint32_t(p), strPtr(name), C.size_t(len(name)), C.uint16_t(port), C.hostgate_via(via), &v)
	runtime.KeepAlive(name)
	if r != C.HOSTGATE_RESULT_OK {
		runtime.KeepAlive(e)
		return Verdict{}, &Error{Op: "check", Code: uint32(r)}
	}
	out := e.verdict(&v)
	runtime.KeepAlive(e)
	return out, nil
}

// CheckBatch checks every query against one policy in a single cgo call and writes
// out[i] for queries[i]; out must be at least as long as queries.
func (e *Engine) CheckBatch(p Policy, queries []Query, out []Verdict) error {
	if len(out) < len(queries) {
		return &Error{Op: "check batch: out shorter than queries", Code: ResultInvalidArgument}
	}
	if len(queries) == 0 {
		return nil
	}
	total := 0
	for i := range queries {
		total += len(queries[i].Name)
	}
	names := make([]byte, 0, total)
	cq := make([]C.hostgate_query, len(queries))
	for i := range queries {
		cq[i].offset = C.size_t(len(names))
		cq[i].len = C.size_t(len(queries[i].Name))
		cq[i].port = C.uint16_t(queries[i].Port)
		cq[i].via = C.hostgate_via(queries[i].Via)
		names = append(names, queries[i].Name...)
	}
	cv := make([]C.hostgate_verdict, len(queries))
	var namesPtr *C.char
	if len(names) > 0 {
		namesPtr = (*C.char)(unsafe.Pointer(&names[0]))
	}
	r := C.hostgate_check_batch(e.ptr, C.uint32_t(p), namesPtr, C.size_t(len(names)), &cq[0], C.size_t(len(cq)), &cv[0])
	runtime.KeepAlive(names)
	if r != C.HOSTGATE_RESULT_OK {
		runtime.KeepAlive(e)
		return &Error{Op: "check batch", Code: uint32(r)}
	}
	for i := range cv {
		out[i] = e.verdict(&cv[i])
	}
	runtime.KeepAlive(e)
	return nil
}

// Version is the library's version, MAJOR.MINOR.PATCH.
func Version() string { return C.GoString(C.hostgate_version()) }

// Protocol is what Inspect recognized.
type Protocol uint32

// The protocols.
const (
	ProtocolUnknown Protocol = C.HOSTGATE_PROTOCOL_UNKNOWN
	ProtocolTLS     Protocol = C.HOSTGATE_PROTOCOL_TLS
	ProtocolHTTP    Protocol = C.HOSTGATE_PROTOCOL_HTTP
	ProtocolDNS     Protocol = C.HOSTGATE_PROTOCOL_DNS
	ProtocolQUIC    Protocol = C.HOSTGATE_PROTOCOL_QUIC
)

// Status is what came of an inspection.
type Status uint32

// The statuses.
const (
	StatusComplete     Status = C.HOSTGATE_STATUS_COMPLETE
	StatusNeedMore     Status = C.HOSTGATE_STATUS_NEED_MORE
	StatusNoName       Status = C.HOSTGATE_STATUS_NO_NAME
	StatusMalformed    Status = C.HOSTGATE_STATUS_MALFORMED
	StatusUnrecognized Status = C.HOSTGATE_STATUS_UNRECOGNIZED
)

// Inspection is what Inspect found in the first bytes of a stream.
type Inspection struct {
	Protocol Protocol
	Status   Status
	Via      Via
	Name     string // normalized; only with StatusComplete
	IsIP     bool
	Port     uint16 // the port the request names, 0 when none
	ALPN     []string
	ECH      bool
	Need     uint64 // with StatusNeedMore: at least this many more bytes, when known
	Error    string // with StatusMalformed: why
}

// Inspect parses the first bytes of a TCP stream (TLS ClientHello, HTTP/1.x request head, DNS
// over TCP). Malformed bytes are a Status, not an error.
func Inspect(buf []byte) (Inspection, error) {
	var ci C.hostgate_inspection
	var p *C.uint8_t
	if len(buf) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&buf[0]))
	}
	r := C.hostgate_inspect(p, C.size_t(len(buf)), &ci)
	runtime.KeepAlive(buf)
	if r != C.HOSTGATE_RESULT_OK {
		return Inspection{}, &Error{Op: "inspect", Code: uint32(r)}
	}
	return fromC(&ci), nil
}

// fromC converts the C inspection.
func fromC(ci *C.hostgate_inspection) Inspection {
	out := Inspection{
		Protocol: Protocol(ci.protocol),
		Status:   Status(ci.status),
		Via:      Via(ci.via),
		Name:     C.GoStringN(&ci.name[0], C.int(ci.name_len)),
		IsIP:     ci.name_kind == C.HOSTGATE_NAME_KIND_IPV4 || ci.name_kind == C.HOSTGATE_NAME_KIND_IPV6,
		Port:     uint16(ci.port),
		ECH:      ci.ech != 0,
		Need:     uint64(ci.need),
		Error:    C.GoString(&ci.error[0]),
	}
	alpn := C.GoBytes(unsafe.Pointer(&ci.alpn[0]), C.int(ci.alpn_len))
	for len(alpn) > 0 && int(alpn[0]) < len(alpn) {
		out.ALPN = append(out.ALPN, string(alpn[1:1+int(alpn[0])]))
		alpn = alpn[1+int(alpn[0]):]
	}
	return out
}

// InspectQUIC reads one UDP datagram holding a client's QUIC Initial whose ClientHello it
// carries whole (Protocol ProtocolQUIC, Via ViaTLS; no ALPN this way). A hello spread over
// datagrams is StatusNeedMore: use a QUICReassembler.
func InspectQUIC(datagram []byte) (Inspection, error) {
	var ci C.hostgate_inspection
	var p *C.uint8_t
	if len(datagram) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&datagram[0]))
	}
	r := C.hostgate_inspect_quic(p, C.size_t(len(datagram)), &ci)
	runtime.KeepAlive(datagram)
	if r != C.HOSTGATE_RESULT_OK {
		return Inspection{}, &Error{Op: "inspect quic", Code: uint32(r)}
	}
	return fromC(&ci), nil
}

// QUICReassembler collects client QUIC Initial datagrams per flow (original destination
// connection ID) until the ClientHello is complete. Not safe for concurrent use: one per
// goroutine, or guard it with a mutex. Close frees it.
type QUICReassembler struct {
	ptr *C.hostgate_quic_reassembler
}

// NewQUICReassembler makes a reassembler with the default caps (8 datagrams a flow, 1024
// flows, 5 s to complete a hello).
func NewQUICReassembler() (*QUICReassembler, error) {
	var ptr *C.hostgate_quic_reassembler
	if r := C.hostgate_quic_reassembler_new(nil, &ptr); r != C.HOSTGATE_RESULT_OK {
		return nil, &Error{Op: "quic reassembler", Code: uint32(r)}
	}
	q := &QUICReassembler{ptr: ptr}
	runtime.SetFinalizer(q, (*QUICReassembler).Close)
	return q, nil
}

// Close frees the reassembler; further calls fail.
func (q *QUICReassembler) Close() {
	if q.ptr != nil {
		C.hostgate_quic_reassembler_free(q.ptr)
		q.ptr = nil
	}
}

func datagramPtr(d []byte) *C.uint8_t {
	if len(d) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&d[0]))
}

// Push adds one client datagram and says where its flow stands: StatusNeedMore until the hello
// is complete, then StatusComplete with the SNI and ALPN (or StatusNoName); StatusMalformed
// for a datagram that fails authentication or breaks a rule; StatusUnrecognized for bytes
// that are not a QUIC long header.
func (q *QUICReassembler) Push(datagram []byte) (Inspection, error) {
	if q.ptr == nil {
		return Inspection{}, &Error{Op: "quic push", Code: ResultNullArgument}
	}
	var ci C.hostgate_inspection
	r := C.hostgate_quic_reassembler_push(q.ptr, datagramPtr(datagram), C.size_t(len(datagram)), &ci)
	runtime.KeepAlive(datagram)
	if r != C.HOSTGATE_RESULT_OK {
		return Inspection{}, &Error{Op: "quic push", Code: uint32(r)}
	}
	return fromC(&ci), nil
}

// Check is Push, then the verdict of policy p for the flow: the SNI checked via TLS with port
// (0: none); anything but StatusComplete is denied, so wait while the status is
// StatusNeedMore.
func (q *QUICReassembler) Check(e *Engine, p Policy, datagram []byte, port uint16) (Verdict, Inspection, error) {
	if q.ptr == nil {
		return Verdict{}, Inspection{}, &Error{Op: "quic check", Code: ResultNullArgument}
	}
	var ci C.hostgate_inspection
	var v C.hostgate_verdict
	r := C.hostgate_quic_reassembler_check(q.ptr, e.ptr, C.uint32_t(p), datagramPtr(datagram), C.size_t(len(datagram)), C.uint16_t(port), &ci, &v)
	runtime.KeepAlive(datagram)
	if r != C.HOSTGATE_RESULT_OK {
		runtime.KeepAlive(e)
		return Verdict{}, Inspection{}, &Error{Op: "quic check", Code: uint32(r)}
	}
	out := e.verdict(&v)
	runtime.KeepAlive(e)
	return out, fromC(&ci), nil
}

// Forget drops the flow of an original destination connection ID; it says whether one was
// held.
func (q *QUICReassembler) Forget(dcid []byte) bool {
	if q.ptr == nil {
		return false
	}
	var found C.bool
	C.hostgate_quic_reassembler_forget(q.ptr, datagramPtr(dcid), C.size_t(len(dcid)), &found)
	runtime.KeepAlive(dcid)
	return bool(found)
}

// Len is the number of flows held.
func (q *QUICReassembler) Len() int {
	if q.ptr == nil {
		return 0
	}
	return int(C.hostgate_quic_reassembler_len(q.ptr))
}
