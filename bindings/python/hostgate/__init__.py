"""hostgate: allow/deny verdicts for destination host names.

A thin binding over the hostgate C library (``libhostgate.so``) through cffi in ABI mode. The
wheel carries the library inside the package (``libhostgate.abi3.so``). ``$HOSTGATE_LIB`` (a path
to a .so), when set, is the only library tried; otherwise the package's own, else
``libhostgate.so`` next to this file, else the system's library path.

>>> import hostgate
>>> engine = hostgate.Engine.compile("allow **.stripe.com port 443 via tls\\n")
>>> engine.check("checkout.stripe.com", port=443, via=hostgate.Via.TLS).allowed
True

An Engine is immutable and may be shared by many threads; reload policy by compiling a new one
and swapping the reference.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from cffi import FFI

__all__ = [
    "Action",
    "CompileError",
    "Diagnostic",
    "Engine",
    "EngineFileError",
    "HostgateError",
    "Query",
    "Reason",
    "Verdict",
    "Via",
    "Inspection",
    "Protocol",
    "Status",
    "inspect",
    "inspect_quic",
    "QuicReassembler",
    "version",
]

_ffi = FFI()
with open(os.path.join(os.path.dirname(__file__), "_cdef.h"), encoding="utf-8") as _f:
    _ffi.cdef(_f.read())


def _load():
    here = os.path.dirname(__file__)
    override = os.environ.get("HOSTGATE_LIB")
    if override:
        # An explicit choice is not silently replaced by another library.
        candidates = [override]
    else:
        candidates = [
            os.path.join(here, "libhostgate.abi3.so"),
            os.path.join(here, "libhostgate.so"),
            "libhostgate.so",
        ]
    errors = []
    for path in candidates:
        if os.path.sep in path and not os.path.exists(path) and not override:
            continue
        try:
            return _ffi.dlopen(path)
        except OSError as e:  # pragma: no cover - depends on the machine
            errors.append(f"{path}: {e}")
    raise ImportError("hostgate: cannot load libhostgate.so (set HOSTGATE_LIB): " + "; ".join(errors))


_lib = _load()


class Action(enum.IntEnum):
    """Allow or deny."""

    DENY = _lib.HOSTGATE_ACTION_DENY
    ALLOW = _lib.HOSTGATE_ACTION_ALLOW

    def __str__(self) -> str:
        return self.name.lower()


class Reason(enum.IntEnum):
    """Why a verdict is what it is."""

    MATCHED = _lib.HOSTGATE_REASON_MATCHED
    DEFAULT = _lib.HOSTGATE_REASON_DEFAULT
    INVALID_NAME = _lib.HOSTGATE_REASON_INVALID_NAME
    NO_NAME = _lib.HOSTGATE_REASON_NO_NAME

    def __str__(self) -> str:
        return _ffi.string(_lib.hostgate_reason_name(self.value)).decode()


class Via(enum.IntEnum):
    """Where a name came from; ANY means unknown."""

    ANY = _lib.HOSTGATE_VIA_ANY
    TLS = _lib.HOSTGATE_VIA_TLS
    HTTP = _lib.HOSTGATE_VIA_HTTP
    CONNECT = _lib.HOSTGATE_VIA_CONNECT
    DNS = _lib.HOSTGATE_VIA_DNS

    def __str__(self) -> str:
        return self.name.lower()


class HostgateError(Exception):
    """A call into the library failed; ``code`` is the C ``hostgate_result``."""

    def __init__(self, op: str, code: int):
        self.code = code
        self.code_name = _ffi.string(_lib.hostgate_result_name(code)).decode()
        super().__init__(f"{op}: {self.code_name}")


class UnknownPolicy(HostgateError, KeyError):
    """No policy with that name or index."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


@dataclass(frozen=True)
class Diagnostic:
    """One error in a policy text (line and column count from 1)."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


class EngineFileError(HostgateError, ValueError):
    """An engine file cannot be opened: not an engine file, another format version or machine,
    truncated, damaged or inconsistent. The message names the file and what is wrong."""

    def __init__(self, text: str):
        HostgateError.__init__(self, "open", _ENGINE_FILE_ERROR)
        self.args = (text,)

    def __str__(self) -> str:
        return self.args[0]


class CompileError(HostgateError, ValueError):
    """The policy text does not compile. ``line``/``column`` locate the first error,
    ``errors`` lists them all."""

    def __init__(self, code: int, errors: List[Diagnostic]):
        self.errors = errors
        self.line = errors[0].line if errors else 0
        self.column = errors[0].column if errors else 0
        HostgateError.__init__(self, "compile", code)
        self.args = ("\n".join(str(e) for e in errors) or self.code_name,)

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class Verdict:
    """The answer to one query."""

    action: Action
    reason: Reason
    policy: int
    rule: Optional[int]  #: the deciding rule's index in its policy
    line: int  #: its line in the policy text, 0 when none
    rule_id: Optional[str]  #: its id

    @property
    def allowed(self) -> bool:
        return self.action is Action.ALLOW


@dataclass(frozen=True)
class Query:
    """One name of a batch."""

    name: Union[str, bytes]
    port: int = 0
    via: Via = Via.ANY


_OK = _lib.HOSTGATE_RESULT_OK
_UNKNOWN_POLICY = _lib.HOSTGATE_RESULT_UNKNOWN_POLICY
_IO_ERROR = _lib.HOSTGATE_RESULT_IO_ERROR
_INVALID_ARGUMENT = _lib.HOSTGATE_RESULT_INVALID_ARGUMENT
_ENGINE_FILE_ERROR = _lib.HOSTGATE_RESULT_ENGINE_FILE_ERROR


def _bytes(name: Union[str, bytes]) -> bytes:
    return name.encode("utf-8") if isinstance(name, str) else bytes(name)


class Protocol(enum.IntEnum):
    """What inspect() recognized."""

    UNKNOWN = _lib.HOSTGATE_PROTOCOL_UNKNOWN
    TLS = _lib.HOSTGATE_PROTOCOL_TLS
    HTTP = _lib.HOSTGATE_PROTOCOL_HTTP
    DNS = _lib.HOSTGATE_PROTOCOL_DNS
    QUIC = _lib.HOSTGATE_PROTOCOL_QUIC


class Status(enum.IntEnum):
    """What came of an inspection."""

    COMPLETE = _lib.HOSTGATE_STATUS_COMPLETE
    NEED_MORE = _lib.HOSTGATE_STATUS_NEED_MORE
    NO_NAME = _lib.HOSTGATE_STATUS_NO_NAME
    MALFORMED = _lib.HOSTGATE_STATUS_MALFORMED
    UNRECOGNIZED = _lib.HOSTGATE_STATUS_UNRECOGNIZED


@dataclass(frozen=True)
class Inspection:
    """What inspect() found in the first bytes of a stream."""

    protocol: Protocol
    status: Status
    via: Via
    name: Optional[str]  #: normalized; only when status is COMPLETE
    is_ip: bool
    port: Optional[int]  #: the port the request names
    alpn: Tuple[bytes, ...]
    ech: bool
    need: Optional[int]  #: with NEED_MORE: at least this many more bytes, when known
    error: Optional[str]  #: with MALFORMED: why


def _inspection(ci) -> Inspection:
    raw = _ffi.unpack(ci.alpn, ci.alpn_len)
    alpn = []
    while raw and raw[0] < len(raw):
        alpn.append(bytes(raw[1 : 1 + raw[0]]))
        raw = raw[1 + raw[0] :]
    error = _ffi.string(ci.error).decode("utf-8", "replace")
    return Inspection(
        Protocol(ci.protocol),
        Status(ci.status),
        Via(ci.via),
        _ffi.unpack(ci.name, ci.name_len).decode() if ci.name_len else None,
        ci.name_kind in (_lib.HOSTGATE_NAME_KIND_IPV4, _lib.HOSTGATE_NAME_KIND_IPV6),
        ci.port or None,
        tuple(alpn),
        bool(ci.ech),
        ci.need or None,
        error or None,
    )


def inspect(buf: bytes) -> Inspection:
    """Parses the first bytes of a TCP stream (TLS ClientHello, HTTP/1.x request head, DNS over
    TCP). Malformed bytes give a status, not an exception."""
    data = bytes(buf)
    out = _ffi.new("hostgate_inspection *")
    r = _lib.hostgate_inspect(data, len(data), out)
    if r != _OK:
        raise HostgateError("inspect", r)
    return _inspection(out[0])


def inspect_quic(datagram: bytes) -> Inspection:
    """Reads one UDP datagram holding a client's QUIC Initial whose ClientHello it carries whole
    (protocol QUIC, via TLS; no ALPN this way). A hello spread over datagrams is NEED_MORE: use
    a QuicReassembler."""
    data = bytes(datagram)
    out = _ffi.new("hostgate_inspection *")
    r = _lib.hostgate_inspect_quic(data, len(data), out)
    if r != _OK:
        raise HostgateError("inspect_quic", r)
    return _inspection(out[0])


class QuicReassembler:
    """Client QUIC Initial datagrams collected per flow (original destination connection ID)
    until the ClientHello is complete. Not thread-safe: one per thread, or guard it with a
    lock. Use as a context manager or call ``close()``; otherwise it is freed with the
    object."""

    def __init__(self, datagrams: int = 0, flows: int = 0, lifetime_ms: int = 0, fragments: int = 0):
        """Caps left 0 take their defaults (8 datagrams a flow, 1024 flows, 5000 ms, 64
        fragments)."""
        caps = _ffi.new("hostgate_quic_caps *", [datagrams, flows, lifetime_ms, fragments])
        out = _ffi.new("hostgate_quic_reassembler **")
        r = _lib.hostgate_quic_reassembler_new(caps, out)
        if r != _OK:
            raise HostgateError("quic_reassembler_new", r)
        self._ptr = _ffi.gc(out[0], _lib.hostgate_quic_reassembler_free)

    def _table(self):
        if self._ptr is None:
            raise ValueError("the reassembler is closed")
        return self._ptr

    def push(self, datagram: bytes) -> Inspection:
        """Adds one client datagram: NEED_MORE until the hello is complete, then COMPLETE (SNI,
        ALPN) or NO_NAME; MALFORMED for a datagram that fails authentication or breaks a
        rule."""
        data = bytes(datagram)
        out = _ffi.new("hostgate_inspection *")
        r = _lib.hostgate_quic_reassembler_push(self._table(), data, len(data), out)
        if r != _OK:
            raise HostgateError("quic_reassembler_push", r)
        return _inspection(out[0])

    def check(
        self, engine: "Engine", datagram: bytes, port: Optional[int] = None, policy: Union[str, int] = "default"
    ) -> Tuple[Inspection, "Verdict"]:
        """push(), then the verdict of ``policy`` for the flow (the SNI checked via TLS with
        ``port``); anything but COMPLETE is denied: wait while the status is NEED_MORE."""
        data = bytes(datagram)
        insp = _ffi.new("hostgate_inspection *")
        out = _ffi.new("hostgate_verdict *")
        r = _lib.hostgate_quic_reassembler_check(
            self._table(), engine._engine(), engine._policy_index(policy), data, len(data), port or 0, insp, out
        )
        if r != _OK:
            cls = UnknownPolicy if r == _UNKNOWN_POLICY else HostgateError
            raise cls("quic_reassembler_check", r)
        return _inspection(insp[0]), engine._verdict(out[0])

    def forget(self, dcid: bytes) -> bool:
        """Drops the flow of an original destination connection ID; True when one was held."""
        data = bytes(dcid)
        found = _ffi.new("bool *")
        r = _lib.hostgate_quic_reassembler_forget(self._table(), data, len(data), found)
        if r != _OK:
            raise HostgateError("quic_reassembler_forget", r)
        return bool(found[0])

    def __len__(self) -> int:
        return _lib.hostgate_quic_reassembler_len(self._table())

    def close(self) -> None:
        """Frees the reassembler now."""
        if self._ptr is not None:
            ptr, self._ptr = self._ptr, None
            _ffi.release(ptr)

    def __enter__(self) -> "QuicReassembler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def version() -> str:
    """The library's version."""
    return _ffi.string(_lib.hostgate_version()).decode()


def _load_error(r: int, err, path: Optional[str]) -> Exception:
    """The exception for a failed compile or load; frees ``err``."""
    diags: List[Diagnostic] = []
    text = None
    if err != _ffi.NULL:
        try:
            line, col, msg = _ffi.new("uint32_t *"), _ffi.new("uint32_t *"), _ffi.new("char **")
            for i in range(_lib.hostgate_error_count(err)):
                if _lib.hostgate_error_get(err, i, line, col, msg) == _OK:
                    diags.append(Diagnostic(line[0], col[0], _ffi.string(msg[0]).decode("utf-8", "replace")))
            text = _ffi.string(_lib.hostgate_error_message(err)).decode("utf-8", "replace")
        finally:
            _lib.hostgate_error_free(err)
    if r == _IO_ERROR:
        return OSError(text or f"cannot read policy file {path}")
    if r == _ENGINE_FILE_ERROR:
        return EngineFileError(text or f"{path}: cannot open engine file")
    e = CompileError(r, diags)
    if path is not None and text:
        e.args = (text,)
    return e


class Engine:
    """A compiled, immutable set of policies. Use as a context manager or call ``close()``;
    otherwise it is freed with the object."""

    def __init__(self, _ptr):
        self._ptr = _ffi.gc(_ptr, _lib.hostgate_engine_free)
        self._ids = {}
        self._policies = {}

    @classmethod
    def compile(cls, text: Union[str, bytes]) -> "Engine":
        """Compiles policy text; raises CompileError with every error's line and column."""
        data = _bytes(text)
        out = _ffi.new("hostgate_engine **")
        err = _ffi.new("hostgate_error **")
        r = _lib.hostgate_engine_compile(data, len(data), out, err)
        if r != _OK:
            raise _load_error(r, err[0], None)
        return cls(out[0])

    @classmethod
    def from_file(
        cls, path: Union[str, os.PathLike], format: Optional[str] = None
    ) -> "Engine":
        """Reads and compiles a policy file through the library's loading path (the same as the
        ``hostgate`` CLI's): a CompileError's text is every error as ``FILE:LINE:COL: message``
        with the path as given; a file that cannot be read raises OSError. ``format`` is the
        file's format as the CLI's ``--from`` takes it (``"cilium"``, ``"gke"``, …; default the
        hostgate language); an unknown one raises ValueError."""
        data = os.fsencode(path)
        out = _ffi.new("hostgate_engine **")
        err = _ffi.new("hostgate_error **")
        if format is None:
            r = _lib.hostgate_engine_load(data, len(data), out, err)
        else:
            fmt = format.encode("utf-8")
            r = _lib.hostgate_engine_load_from(fmt, len(fmt), data, len(data), out, err)
            if r == _INVALID_ARGUMENT and err[0] != _ffi.NULL:
                try:
                    text = _ffi.string(_lib.hostgate_error_message(err[0])).decode("utf-8", "replace")
                finally:
                    _lib.hostgate_error_free(err[0])
                raise ValueError(text.split(": ", 1)[-1])
        if r != _OK:
            raise _load_error(r, err[0], os.fsdecode(data))
        return cls(out[0])

    @classmethod
    def open(cls, path: Union[str, os.PathLike]) -> "Engine":
        """Opens an engine file (written by ``hostgate compile`` or ``write``) by mapping it: no
        compile, its arrays shared with every process that maps the same file. Raises
        EngineFileError for a file that is not an engine file or cannot be opened, OSError for one
        that cannot be read. ``from_file`` takes engine files too."""
        data = os.fsencode(path)
        out = _ffi.new("hostgate_engine **")
        err = _ffi.new("hostgate_error **")
        r = _lib.hostgate_engine_open(data, len(data), out, err)
        if r != _OK:
            raise _load_error(r, err[0], os.fsdecode(data))
        return cls(out[0])

    def write(self, path: Union[str, os.PathLike]) -> None:
        """Writes the engine as an engine file, atomically (a temporary file renamed over
        ``path``); raises OSError when it cannot be written."""
        data = os.fsencode(path)
        err = _ffi.new("hostgate_error **")
        r = _lib.hostgate_engine_write(self._engine(), data, len(data), err)
        if r != _OK:
            raise _load_error(r, err[0], os.fsdecode(data))

    @property
    def warnings(self) -> List[str]:
        """The policy's warnings, one line each, as the CLI prints them (with the file name for an
        engine from ``from_file``)."""
        e = self._engine()
        return [
            _ffi.string(_lib.hostgate_engine_warning(e, i)).decode("utf-8", "replace")
            for i in range(_lib.hostgate_engine_warning_count(e))
        ]

    @property
    def default_policy(self) -> int:
        """The index of the policy used when none is named: ``default`` when the text has
        statements outside any ``policy`` block, else the first policy."""
        out = _ffi.new("uint32_t *")
        r = _lib.hostgate_engine_default_policy(self._engine(), out)
        if r != _OK:
            raise HostgateError("default_policy", r)
        return out[0]

    def close(self) -> None:
        """Frees the engine now. It must not be in use by another thread."""
        if self._ptr is not None:
            ptr, self._ptr = self._ptr, None
            _ffi.release(ptr)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _engine(self):
        if self._ptr is None:
            raise ValueError("hostgate: engine is closed")
        return self._ptr

    @property
    def policies(self) -> List[str]:
        """Policy names, in file order (index = position)."""
        e = self._engine()
        ptr, n = _ffi.new("char **"), _ffi.new("size_t *")
        names = []
        for i in range(_lib.hostgate_engine_policy_count(e)):
            if _lib.hostgate_engine_policy_name(e, i, ptr, n) == _OK:
                names.append(_ffi.unpack(ptr[0], n[0]).decode())
        return names

    def policy(self, name: str) -> int:
        """The index of the policy ``name``; raises UnknownPolicy (a KeyError)."""
        idx = self._policies.get(name)
        if idx is None:
            data = _bytes(name)
            out = _ffi.new("uint32_t *")
            r = _lib.hostgate_engine_policy(self._engine(), data, len(data), out)
            if r != _OK:
                cls = UnknownPolicy if r == _UNKNOWN_POLICY else HostgateError
                raise cls(f"policy {name!r}", r)
            idx = self._policies[name] = out[0]
        return idx

    def _policy_index(self, policy: Union[str, int]) -> int:
        return self.policy(policy) if isinstance(policy, str) else int(policy)

    def _verdict(self, v) -> Verdict:
        rule = v.rule if v.rule >= 0 else None
        rule_id = None
        if rule is not None:
            key = (v.policy, rule)
            rule_id = self._ids.get(key)
            if rule_id is None:
                rule_id = self._ids[key] = _ffi.unpack(v.rule_id, v.rule_id_len).decode()
        return Verdict(Action(v.action), Reason(v.reason), v.policy, rule, v.line, rule_id)

    def check(
        self,
        name: Union[str, bytes],
        port: Optional[int] = None,
        via: Via = Via.ANY,
        policy: Union[str, int] = "default",
    ) -> Verdict:
        """Checks one name (str or raw bytes, normalized by the engine). An invalid name is a
        deny verdict with reason INVALID_NAME, not an exception."""
        data = _bytes(name)
        out = _ffi.new("hostgate_verdict *")
        r = _lib.hostgate_check(self._engine(), self._policy_index(policy), data, len(data), port or 0, int(via), out)
        if r != _OK:
            cls = UnknownPolicy if r == _UNKNOWN_POLICY else HostgateError
            raise cls("check", r)
        return self._verdict(out[0])

    def inspect_check(
        self, buf: bytes, port: Optional[int] = None, policy: Union[str, int] = "default"
    ) -> Tuple[Inspection, Verdict]:
        """Inspects the first bytes of a stream and checks the name found (see the C function
        hostgate_inspect_check): anything but a complete inspection is denied."""
        data = bytes(buf)
        insp = _ffi.new("hostgate_inspection *")
        out = _ffi.new("hostgate_verdict *")
        r = _lib.hostgate_inspect_check(self._engine(), self._policy_index(policy), data, len(data), port or 0, insp, out)
        if r != _OK:
            cls = UnknownPolicy if r == _UNKNOWN_POLICY else HostgateError
            raise cls("inspect_check", r)
        return _inspection(insp[0]), self._verdict(out[0])

    def check_batch(
        self,
        queries: Iterable[Union[Query, str, bytes, Tuple]],
        policy: Union[str, int] = "default",
    ) -> List[Verdict]:
        """Checks many queries in one call. Items are Query objects, names, or
        (name, port, via) tuples."""
        qs: Sequence[Query] = [
            q if isinstance(q, Query) else Query(*q) if isinstance(q, tuple) else Query(q) for q in queries
        ]
        if not qs:
            return []
        names = [_bytes(q.name) for q in qs]
        buf = b"".join(names)
        cq = _ffi.new("hostgate_query[]", len(qs))
        off = 0
        for i, (q, n) in enumerate(zip(qs, names)):
            cq[i].offset = off
            cq[i].len = len(n)
            cq[i].port = q.port or 0
            cq[i].via = int(q.via)
            off += len(n)
        out = _ffi.new("hostgate_verdict[]", len(qs))
        r = _lib.hostgate_check_batch(self._engine(), self._policy_index(policy), buf, len(buf), cq, len(qs), out)
        if r != _OK:
            cls = UnknownPolicy if r == _UNKNOWN_POLICY else HostgateError
            raise cls("check_batch", r)
        return [self._verdict(out[i]) for i in range(len(qs))]
