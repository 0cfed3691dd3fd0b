-- Nanoseconds per check through the Lua binding, on a policy file and a query list (the same
-- inputs as benches/examples/check_ns.rs; benches/lua.sh runs both and prints the ratio):
--
--   HOSTGATE_LIB=target/release/libhostgate.so luajit bindings/lua/bench.lua POLICY QUERIES [ROUNDS]
--
-- QUERIES has one query a line: `NAME PORT VIA` (PORT 0 for none, VIA tls, http, connect, dns or
-- -). Each round checks every query once; the fastest round is printed, for engine:check and for
-- a bare ffi call of hostgate_check (what the binding adds is the difference).

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local ffi = require "ffi"
local hostgate = require "hostgate"

if not pcall(ffi.typeof, "struct hostgate_bench_timespec") then
    ffi.cdef [[
        struct hostgate_bench_timespec { long tv_sec; long tv_nsec; };
        int clock_gettime(int clock, struct hostgate_bench_timespec *ts);
    ]]
end
local CLOCK_MONOTONIC = 1
local ts = ffi.new("struct hostgate_bench_timespec")
local function now_ns()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local policy_path, queries_path, rounds = arg[1], arg[2], tonumber(arg[3] or 15)
if not queries_path then
    io.stderr:write("usage: luajit bench.lua POLICY QUERIES [ROUNDS]\n")
    os.exit(2)
end

local names, ports, vias = {}, {}, {}
for line in io.lines(queries_path) do
    local name, port, via = line:match("^(%S+)%s+(%d+)%s+(%S+)")
    if name then
        names[#names + 1] = name
        ports[#ports + 1] = tonumber(port)
        vias[#vias + 1] = via ~= "-" and via or nil
    end
end
local n = #names
local engine = hostgate.load(policy_path)

local function binding_round()
    local allowed = 0
    for i = 1, n do
        if engine:check(names[i], ports[i], vias[i]) then
            allowed = allowed + 1
        end
    end
    return allowed
end

-- The floor: hostgate_check called straight through the FFI, nothing read back but the action.
local C = ffi.load(os.getenv("HOSTGATE_LIB") or "hostgate")
local raw_ptr, raw_policy = engine.ptr, engine:default_policy()
local raw_out = ffi.new("hostgate_verdict")
local via_num = {}
for i = 1, n do
    via_num[i] = vias[i] and hostgate.VIA[vias[i]] or 0
end
local function raw_round()
    local allowed = 0
    for i = 1, n do
        local name = names[i]
        C.hostgate_check(raw_ptr, raw_policy, name, #name, ports[i], via_num[i], raw_out)
        if raw_out.action == 1 then
            allowed = allowed + 1
        end
    end
    return allowed
end

local function best_of(round)
    local best, allowed = math.huge, 0
    for r = 0, rounds do
        local start = now_ns()
        allowed = round()
        local ns = (now_ns() - start) / n
        if r > 0 and ns < best then -- round 0 warms up (and compiles the trace)
            best = ns
        end
    end
    return best, allowed
end

local bns, ballowed = best_of(binding_round)
local rns, rallowed = best_of(raw_round)
assert(ballowed == rallowed, "the binding and the bare call disagree")
print(string.format("lua_check_ns: %.1f ns per check (%d queries, %d rounds, %d allowed)", bns, n, rounds, ballowed))
print(string.format("lua_raw_ffi_ns: %.1f ns per check (bare hostgate_check through the FFI)", rns))
