-- hostgate: allow/deny verdicts for destination host names, for LuaJIT (and so OpenResty and
-- nginx's lua module) through the FFI over libhostgate.so.
--
--   local hostgate = require "hostgate"
--   local engine = hostgate.compile("allow **.stripe.com port 443 via tls\n")
--   local allowed, action, reason, rule_id, line = engine:check("checkout.stripe.com", 443, "tls")
--
-- The library is loaded from $HOSTGATE_LIB (a path to libhostgate.so) when it is set, else by
-- ffi.load("hostgate"), which searches the system's library path (ldconfig, LD_LIBRARY_PATH).
-- Under nginx, $HOSTGATE_LIB is only seen with an `env HOSTGATE_LIB;` line in nginx.conf.
--
-- Errors are Lua errors whose value is a string: hostgate's own text, such as
-- `FILE:LINE:COL: message` for a policy file that does not compile. An engine is freed by the
-- garbage collector, or at once by engine:close(). API: bindings/lua/README.md.
--
-- SPDX-License-Identifier: MIT OR Apache-2.0

local ffi = require "ffi"

-- Declared once per Lua state: a second ffi.cdef of the same structs is an error, and this
-- module may be loaded again (package.loaded cleared, or a copy under another name).
if not pcall(ffi.typeof, "hostgate_verdict") then
    ffi.cdef(require "hostgate_cdef")
end

local C
do
    local path = os.getenv("HOSTGATE_LIB")
    local ok, lib = pcall(ffi.load, (path and path ~= "") and path or "hostgate")
    if not ok then
        error("hostgate: cannot load libhostgate.so (set HOSTGATE_LIB to its path): " .. tostring(lib), 0)
    end
    C = lib
end

local ffi_string, ffi_gc, ffi_new, tonumber, type = ffi.string, ffi.gc, ffi.new, tonumber, type
local OK = C.HOSTGATE_RESULT_OK
local NEED_MORE = C.HOSTGATE_STATUS_NEED_MORE

local function cname(p)
    return p ~= nil and ffi_string(p) or nil
end

-- Names as the library spells them ("allow", "invalid-name", "tls", ...), indexed by value.
local function names(fn, count)
    local t = {}
    for i = 0, count - 1 do
        t[i] = cname(fn(i))
    end
    return t
end

local ACTION = names(C.hostgate_action_name, 2)
local REASON = names(C.hostgate_reason_name, 4)
local VIA_NAME = names(C.hostgate_via_name, 5)
local PROTOCOL = { [0] = "unknown", "tls", "http", "dns", "quic" }
local STATUS = { [0] = "complete", "need-more", "no-name", "malformed", "unrecognized" }
local VIA = {}
for i = 0, 4 do
    VIA[VIA_NAME[i]] = i
end

-- Scratch space reused by every call: Lua runs one call at a time per state (an nginx worker
-- has one), and nothing below yields between writing these and reading them.
local verdict = ffi_new("hostgate_verdict")
local inspection = ffi_new("hostgate_inspection")
local u32 = ffi_new("uint32_t[1]")
local sz = ffi_new("size_t[1]")
local cstr = ffi_new("const char *[1]")
local engine_out = ffi_new("hostgate_engine *[1]")
local error_out = ffi_new("hostgate_error *[1]")

local function fail(what, r)
    error("hostgate: " .. what .. ": " .. cname(C.hostgate_result_name(r)), 0)
end

-- The message of a failed compile, load or open, and the error object freed.
local function raise_error(what, r)
    local err = error_out[0]
    local text
    if err ~= nil then
        text = cname(C.hostgate_error_message(err))
        C.hostgate_error_free(err)
        error_out[0] = nil
    end
    if text and text ~= "" then
        error(text, 0)
    end
    fail(what, r)
end

local function via_value(via)
    if via == nil then
        return 0
    end
    local v = VIA[via]
    if v then
        return v
    end
    if type(via) == "number" then
        return via -- the library refuses an unknown value (INVALID_ARGUMENT)
    end
    error("hostgate: unknown via " .. tostring(via) .. " (want tls, http, connect, dns or any)", 0)
end

local Engine = {}
Engine.__index = Engine

-- The engine just written to `engine_out`, owned by the garbage collector from here on.
-- `ids` holds rule ids as Lua strings (keyed by policy and rule), `indexes` resolved policy
-- names.
local function new_engine()
    local ptr = ffi_gc(engine_out[0], C.hostgate_engine_free)
    engine_out[0] = nil
    u32[0] = 0
    C.hostgate_engine_default_policy(ptr, u32)
    return setmetatable({ ptr = ptr, ids = {}, indexes = {}, default = tonumber(u32[0]) }, Engine)
end

local M = {}
M.Engine = Engine

--- Compiles policy text. Raises `LINE:COL: message` (one line per error) when it does not
--- compile.
function M.compile(text)
    if type(text) ~= "string" then
        error("hostgate.compile: policy text must be a string", 2)
    end
    local r = C.hostgate_engine_compile(text, #text, engine_out, error_out)
    if r ~= OK then
        raise_error("compile", r)
    end
    return new_engine()
end

--- Reads a policy file the way the hostgate CLI does: hostgate's language, an engine file
--- (by its magic), or with `format` another system's policy ("cilium", "gke", ... as the CLI's
--- `--from` takes it). Raises `FILE:LINE:COL: message` for a policy that does not compile, and
--- hostgate's text for a file it cannot read or an unknown format.
function M.load(path, format)
    if type(path) ~= "string" then
        error("hostgate.load: path must be a string", 2)
    end
    if format ~= nil and type(format) ~= "string" then
        error("hostgate.load: format must be a string", 2)
    end
    local r
    if format == nil then
        r = C.hostgate_engine_load(path, #path, engine_out, error_out)
    else
        r = C.hostgate_engine_load_from(format, #format, path, #path, engine_out, error_out)
    end
    if r ~= OK then
        if format ~= nil and r == C.HOSTGATE_RESULT_INVALID_ARGUMENT and error_out[0] ~= nil then
            -- An unknown format: the message has no position, only its "0:0: " placeholder.
            local text = cname(C.hostgate_error_message(error_out[0]))
            C.hostgate_error_free(error_out[0])
            error_out[0] = nil
            error((text:gsub("^0:0: ", "")), 0)
        end
        raise_error("load " .. path, r)
    end
    return new_engine()
end

--- Opens an engine file (written by `hostgate compile` or engine:write) by mapping it: no
--- compile, and its arrays are shared with every process that maps the same file.
function M.open(path)
    if type(path) ~= "string" then
        error("hostgate.open: path must be a string", 2)
    end
    local r = C.hostgate_engine_open(path, #path, engine_out, error_out)
    if r ~= OK then
        raise_error("open " .. path, r)
    end
    return new_engine()
end

--- The library's version ("0.1.0").
function M.version()
    return cname(C.hostgate_version())
end

local function live(self)
    local ptr = self.ptr
    if ptr == nil then
        error("hostgate: engine is closed", 0)
    end
    return ptr
end

--- Frees the engine now (later calls on it raise an error); closing twice is harmless.
function Engine:close()
    local ptr = self.ptr
    if ptr ~= nil then
        self.ptr = nil
        C.hostgate_engine_free(ffi_gc(ptr, nil))
    end
end

--- The index of policy `name`; raises an error for an unknown one. Indexes are resolved once
--- and kept.
function Engine:policy(name)
    local idx = self.indexes[name]
    if idx then
        return idx
    end
    if type(name) ~= "string" then
        error("hostgate: a policy is a name or an index, not " .. type(name), 2)
    end
    local r = C.hostgate_engine_policy(live(self), name, #name, u32)
    if r ~= OK then
        if r == C.HOSTGATE_RESULT_UNKNOWN_POLICY then
            error("hostgate: no policy named " .. name, 0)
        end
        fail("policy", r)
    end
    idx = tonumber(u32[0])
    self.indexes[name] = idx
    return idx
end

--- The policies' names in file order (index 0 first).
function Engine:policies()
    local ptr = live(self)
    local t = {}
    for i = 0, C.hostgate_engine_policy_count(ptr) - 1 do
        if C.hostgate_engine_policy_name(ptr, i, cstr, sz) == OK then
            t[#t + 1] = ffi_string(cstr[0], sz[0])
        end
    end
    return t
end

--- The index of the policy used when none is named (`default`, or the first policy).
function Engine:default_policy()
    live(self)
    return self.default
end

--- The warnings the policy compiled with, one string each as the CLI prints them.
function Engine:warnings()
    local ptr = live(self)
    local t = {}
    for i = 0, tonumber(C.hostgate_engine_warning_count(ptr)) - 1 do
        t[#t + 1] = cname(C.hostgate_engine_warning(ptr, i))
    end
    return t
end

--- Writes the engine as an engine file, atomically (a temporary file renamed over `path`).
function Engine:write(path)
    local r = C.hostgate_engine_write(live(self), path, #path, error_out)
    if r ~= OK then
        raise_error("write " .. path, r)
    end
end

local function policy_index(self, policy)
    if policy == nil then
        return self.default
    end
    if type(policy) == "number" then
        return policy
    end
    return self.indexes[policy] or self:policy(policy)
end

-- The verdict in `verdict` as check's return values. Rule ids are turned into Lua strings once
-- per rule and kept, so that a check allocates nothing.
local function results(self)
    local v = verdict
    local action = v.action
    local rule = v.rule
    local id = nil
    if rule >= 0 then
        local key = tonumber(v.policy) * 4294967296 + rule
        local ids = self.ids
        id = ids[key]
        if id == nil then
            id = ffi_string(v.rule_id, v.rule_id_len)
            ids[key] = id
        end
    end
    return action == 1, ACTION[action], REASON[v.reason], id, tonumber(v.line)
end

local function check_failed(r, policy)
    if r == C.HOSTGATE_RESULT_UNKNOWN_POLICY then
        error("hostgate: no policy with index " .. tostring(policy), 0)
    end
    fail("check", r)
end

--- Checks one name (raw bytes as received; the engine normalizes case, trailing dot, IDNA and
--- IP literals) arriving on `port` (nil or 0: none) via `via` ("tls", "http", "connect",
--- "dns", or nil for unknown) against `policy` (a name or an index; nil: the default policy).
--- Returns allowed (boolean), action ("allow"/"deny"), reason ("matched", "default",
--- "invalid-name"), rule id (nil when no rule decided) and line (0 when none).
function Engine:check(name, port, via, policy)
    local ptr = self.ptr
    if ptr == nil then
        live(self)
    end
    if type(name) ~= "string" then
        error("hostgate: check: the name must be a string, not " .. type(name), 2)
    end
    if port and (port < 0 or port > 65535) then
        error("hostgate: check: port " .. tostring(port) .. " is out of range (0-65535)", 2)
    end
    local p = policy_index(self, policy)
    local r = C.hostgate_check(ptr, p, name, #name, port or 0, via_value(via), verdict)
    if r ~= OK then
        check_failed(r, p)
    end
    return results(self)
end

-- The inspection in `inspection` as a table.
local function inspection_table()
    local i = inspection
    local status = tonumber(i.status)
    local t = {
        protocol = PROTOCOL[tonumber(i.protocol)],
        status = STATUS[status],
        via = VIA_NAME[tonumber(i.via)],
        ech = i.ech ~= 0,
        is_ip = i.name_kind == C.HOSTGATE_NAME_KIND_IPV4 or i.name_kind == C.HOSTGATE_NAME_KIND_IPV6,
        alpn = {},
    }
    if i.name_len > 0 then
        t.name = ffi_string(i.name, i.name_len)
    end
    if i.port ~= 0 then
        t.port = tonumber(i.port)
    end
    if status == NEED_MORE and i.need ~= 0 then
        t.need = tonumber(i.need)
    end
    if i.error[0] ~= 0 then
        t.error = ffi_string(i.error)
    end
    local pos, len = 0, tonumber(i.alpn_len)
    while pos < len do
        local n = i.alpn[pos]
        if pos + 1 + n > len then
            break
        end
        t.alpn[#t.alpn + 1] = ffi_string(i.alpn + pos + 1, n)
        pos = pos + 1 + n
    end
    return t
end

--- Parses the first bytes of a stream (a TLS ClientHello, an HTTP/1.x request head, DNS over
--- TCP) and returns a table: protocol, status ("complete", "need-more", "no-name", "malformed",
--- "unrecognized"), via, name, is_ip, port, alpn (a list), ech, need, error.
function M.inspect(bytes)
    local r = C.hostgate_inspect(bytes, #bytes, inspection)
    if r ~= OK then
        fail("inspect", r)
    end
    return inspection_table()
end

--- Reads one UDP datagram holding a client's QUIC Initial with its whole ClientHello (as
--- inspect; protocol "quic", via "tls", no ALPN).
function M.inspect_quic(datagram)
    local r = C.hostgate_inspect_quic(datagram, #datagram, inspection)
    if r ~= OK then
        fail("inspect_quic", r)
    end
    return inspection_table()
end

--- Inspects the first bytes of a stream and checks the name found against `policy` (the
--- source follows the protocol: SNI is "tls", Host "http"). `port` is the connection's real
--- destination port (nil: the one the request names). Anything but a complete inspection is
--- denied (reason "no-name"): wait while the inspection's status is "need-more". Returns check's
--- five values, then the inspection table.
function Engine:inspect_check(bytes, port, policy)
    if port and (port < 0 or port > 65535) then
        error("hostgate: inspect_check: port " .. tostring(port) .. " is out of range (0-65535)", 2)
    end
    local p = policy_index(self, policy)
    local r = C.hostgate_inspect_check(live(self), p, bytes, #bytes, port or 0, inspection, verdict)
    if r ~= OK then
        check_failed(r, p)
    end
    local allowed, action, reason, id, line = results(self)
    return allowed, action, reason, id, line, inspection_table()
end

M.VIA = VIA

return M
