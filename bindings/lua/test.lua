-- Tests of the Lua binding under plain LuaJIT: every row of the contract table every language
-- runs (tests/contract/queries.tsv), then the API, its errors, engine files, inspection, the
-- garbage collector and the no-allocation check path.
--
--   HOSTGATE_LIB=target/release/libhostgate.so luajit bindings/lua/test.lua
--
-- Ends with "N passed, M failed" and exits non-zero on any failure.

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ROOT = here .. "/../.."
local CONTRACT = ROOT .. "/tests/contract"

local hostgate = require "hostgate"
local ffi = require "ffi"

local passed, failed = 0, 0

local function test(name, fn)
    local ok, err = xpcall(fn, debug.traceback)
    if ok then
        passed = passed + 1
    else
        failed = failed + 1
        io.stderr:write("FAIL ", name, ": ", tostring(err), "\n")
    end
end

local function eq(got, want, what)
    if got ~= want then
        error(string.format("%s: want %q, got %q", what or "value", tostring(want), tostring(got)), 2)
    end
end

local function truthy(v, what)
    if not v then
        error((what or "condition") .. " is false", 2)
    end
end

-- The error a call raises (it must raise one), as a string.
local function raises(fn, ...)
    local ok, err = pcall(fn, ...)
    if ok then
        error("no error raised", 2)
    end
    truthy(type(err) == "string", "the error is a string")
    return err
end

local function read(path)
    local f = assert(io.open(path, "rb"))
    local data = f:read("*a")
    f:close()
    return data
end

local function write(path, data)
    local f = assert(io.open(path, "wb"))
    f:write(data)
    f:close()
end

local function starts(s, prefix)
    return s:sub(1, #prefix) == prefix
end

local function unescape(s)
    if s == "<empty>" then
        return ""
    end
    return (s:gsub("\\x(%x%x)", function(h)
        return string.char(tonumber(h, 16))
    end))
end

local function split(line)
    local t = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do
        t[#t + 1] = field
    end
    return t
end

local function render(allowed, action, reason, id, line)
    assert(allowed == (action == "allow"), "allowed agrees with action")
    return table.concat({ action, reason, id or "-", tostring(line) }, " ")
end

-- The contract table.
local rows = {}
do
    local n = 0
    for line in io.lines(CONTRACT .. "/queries.tsv") do
        n = n + 1
        if line ~= "" and not starts(line, "#") and not starts(line, "file\t") then
            local c = split(line)
            assert(#c == 9, "queries.tsv:" .. n .. " has " .. #c .. " columns")
            rows[#rows + 1] = {
                n = n,
                file = c[1],
                policy = c[2],
                name = unescape(c[3]),
                port = c[4] ~= "-" and tonumber(c[4]) or nil,
                via = c[5] ~= "-" and c[5] or nil,
                want = table.concat({ c[6], c[7], c[8], c[9] }, " "),
            }
        end
    end
end

local engines = {}
local function engine_for(file)
    local e = engines[file]
    if not e then
        e = hostgate.load(CONTRACT .. "/policies/" .. file)
        engines[file] = e
    end
    return e
end

test("the contract table is big enough", function()
    truthy(#rows >= 350, "at least 350 rows, got " .. #rows)
end)

for _, row in ipairs(rows) do
    test("queries.tsv:" .. row.n, function()
        local e = engine_for(row.file)
        eq(render(e:check(row.name, row.port, row.via, row.policy)), row.want, "verdict")
    end)
end

test("the contract by policy index, a second time (rule ids cached)", function()
    for _, row in ipairs(rows) do
        local e = engine_for(row.file)
        local got = render(e:check(row.name, row.port, row.via and hostgate.VIA[row.via], e:policy(row.policy)))
        eq(got, row.want, "queries.tsv:" .. row.n)
    end
end)

-- Policy errors: the same text as every front end.
local function expected(name, file)
    return (read(ROOT .. "/tests/policy-errors/" .. name .. ".expected"):gsub("{FILE}", function()
        return file
    end))
end

test("compile errors carry LINE:COL: message, one line each", function()
    local err = raises(hostgate.compile, "allow ok.io\nallow a..b\nallow c.io port 0\n")
    local lines = {}
    for l in err:gmatch("[^\n]+") do
        lines[#lines + 1] = l
    end
    eq(#lines, 2, "error lines")
    truthy(lines[1]:match("^2:%d+: "), "first error on line 2: " .. lines[1])
    truthy(lines[2]:match("^3:%d+: "), "second error on line 3: " .. lines[2])
    truthy(starts(raises(hostgate.compile, "allow a.io\nallow b\255.io\n"), "2:8: "), "invalid UTF-8 at 2:8")
end)

test("load reports FILE:LINE:COL: message as the CLI does", function()
    local bad = ROOT .. "/tests/policy-errors/bad.policy"
    eq(raises(hostgate.load, bad) .. "\n", expected("bad", bad), "error text")
    local missing = ROOT .. "/no-such.policy"
    local err = raises(hostgate.load, missing)
    truthy(err:find("cannot read policy file", 1, true) and err:find(missing, 1, true), err)
    local warn = ROOT .. "/tests/policy-errors/warn.policy"
    local e = hostgate.load(warn)
    eq(table.concat(e:warnings(), "\n") .. "\n", expected("warn", warn), "warnings")
    eq(#hostgate.compile("allow a.io\n"):warnings(), 0, "no warnings")
end)

test("load with a format imports with that system's meaning", function()
    local bad = ROOT .. "/tests/policy-errors/bad-cilium.yaml"
    eq(raises(hostgate.load, bad, "cilium") .. "\n", expected("bad-cilium", bad), "cilium error text")
    local err = raises(hostgate.load, bad, "kyverno")
    truthy(starts(err, "unknown policy format `kyverno`: expected ") and err:find("cilium", 1, true), err)
    local e = hostgate.load(ROOT .. "/examples/migrate/cilium.yaml", "cilium")
    local allowed, _, _, id = e:check("a.kadath.io", 443, "tls")
    truthy(allowed, "a.kadath.io allowed")
    eq(id, "CiliumNetworkPolicy/build/egress-allowlist:1", "rule id")
    -- Cilium's `*.` is one label.
    eq((e:check("a.b.kadath.io", 443, "tls")), false, "a.b.kadath.io allowed")
end)

test("policies, check's values and its errors", function()
    local e = hostgate.compile("policy web\nallow **.stripe.com port 443 via tls id stripe\npolicy dns\n")
    local names = e:policies()
    eq(#names, 2, "policy count")
    eq(names[1] .. "," .. names[2], "web,dns", "policy names")
    eq(e:policy("dns"), 1, "index of dns")
    eq(e:default_policy(), 0, "default policy")
    truthy(raises(e.policy, e, "nope"):find("nope", 1, true), "unknown policy named")
    truthy(raises(e.check, e, "a.io", nil, nil, 9):find("9", 1, true), "unknown index named")
    eq(raises(e.check, e, "a.io", nil, 7, "web"), "hostgate: check: HOSTGATE_RESULT_INVALID_ARGUMENT", "via 7")
    truthy(raises(e.check, e, "a.io", nil, "smtp"):find("smtp", 1, true), "unknown via named")
    truthy(raises(e.check, e, "a.io", 70000, "tls"):find("70000", 1, true), "port out of range")
    truthy(raises(e.check, e, nil, 443, "tls"):find("string", 1, true), "a name that is no string")
    local allowed, action, reason, id, line = e:check("Pay.Stripe.COM.", 443, "tls", "web")
    eq(render(allowed, action, reason, id, line), "allow matched stripe 2", "normalized name")
    eq(render(e:check("pay.stripe.com", 443, "tls")), "allow matched stripe 2", "default policy is web")
    eq(render(e:check("pay.stripe.com", 443, "http")), "deny default - 0", "via http")
    eq(render(e:check("pay.stripe.com\0", 443, "tls")), "deny invalid-name - 0", "NUL in the name")
    eq(render(e:check("pay.stripe.com", 443, "tls", "dns")), "deny default - 0", "policy dns")
    e:close()
    eq(raises(e.check, e, "a.io"), "hostgate: engine is closed", "check after close")
    eq(raises(e.policies, e), "hostgate: engine is closed", "policies after close")
    e:close() -- twice is harmless
    eq(raises(hostgate.compile, 42):find("string", 1, true) ~= nil, true, "compile takes a string")
end)

test("version", function()
    local v = hostgate.version()
    local lib = ffi.load(os.getenv("HOSTGATE_LIB") or "hostgate")
    eq(v, string.format("%d.%d.%d", lib.HOSTGATE_VERSION_MAJOR, lib.HOSTGATE_VERSION_MINOR,
        lib.HOSTGATE_VERSION_PATCH), "version() against the header's numbers")
end)

test("inspect and inspect_check", function()
    local hello = read(ROOT .. "/crates/hostgate/tests/fixtures/tls-openssl-alpn.bin")
    local i = hostgate.inspect(hello)
    eq(i.protocol, "tls", "protocol")
    eq(i.status, "complete", "status")
    eq(i.via, "tls", "via")
    eq(i.name, "api.example.org", "name")
    eq(table.concat(i.alpn, ","), "h2,http/1.1", "alpn")
    eq(i.ech, false, "ech")
    eq(i.is_ip, false, "is_ip")
    eq(i.port, nil, "no port in a ClientHello")
    local short = hostgate.inspect(hello:sub(1, 10))
    eq(short.status, "need-more", "a prefix")
    eq(short.name, nil, "no name yet")
    i = hostgate.inspect("CONNECT 192.0.2.7:8443 HTTP/1.1\r\nHost: 192.0.2.7:8443\r\n\r\n")
    eq(i.protocol .. " " .. i.via .. " " .. i.name .. " " .. i.port, "http connect 192.0.2.7 8443", "CONNECT")
    eq(i.is_ip, true, "is_ip")
    i = hostgate.inspect("GET / HTTP/1.1\r\nHost: a b\r\n\r\n")
    eq(i.status, "malformed", "a bad Host")
    truthy(i.error and #i.error > 0, "malformed says why")
    eq(hostgate.inspect("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").status, "unrecognized", "zeros")

    local e = hostgate.compile("allow api.example.org via tls id api\n")
    local allowed, action, reason, id, line, insp = e:inspect_check(hello, 443)
    eq(render(allowed, action, reason, id, line), "allow matched api 1", "inspect_check verdict")
    eq(insp.name, "api.example.org", "inspect_check inspection")
    allowed, action, reason, id, line, insp = e:inspect_check(hello:sub(1, 10))
    eq(render(allowed, action, reason, id, line), "deny no-name - 0", "a prefix is denied")
    eq(insp.status, "need-more", "and needs more")
end)

test("inspect_quic", function()
    local one = read(ROOT .. "/tests/quic/v1-api.kadath.io.bin")
    local i = hostgate.inspect_quic(one)
    eq(i.protocol .. " " .. i.status .. " " .. i.via .. " " .. i.name, "quic complete tls api.kadath.io", "Initial")
    eq(hostgate.inspect_quic(read(ROOT .. "/tests/quic/two-www.kadath.io-1.bin")).status, "need-more", "half a hello")
end)

test("engine files: write, open, load", function()
    local text = "default deny\ndeny api.kadath.io\nallow .kadath.io\n"
    local compiled = hostgate.compile(text)
    local path = os.tmpname()
    compiled:write(path)
    local opened, loaded = hostgate.open(path), hostgate.load(path)
    for _, name in ipairs({ "api.kadath.io", "www.kadath.io", "kadath.io", "leng.com" }) do
        local want = render(compiled:check(name, 443, "tls"))
        eq(render(opened:check(name, 443, "tls")), want, "open " .. name)
        eq(render(loaded:check(name, 443, "tls")), want, "load " .. name)
    end
    eq(render(opened:check("api.kadath.io", 443, "tls")), "deny matched default:2 2", "deny rule")
    opened:close()
    loaded:close()
    local policy = ROOT .. "/examples/policies/egress.policy"
    eq(raises(hostgate.open, policy), policy .. ": not an engine file (wrong magic)", "a text file")
    local cut = path .. ".cut"
    write(cut, read(path):sub(1, 100))
    truthy(starts(raises(hostgate.open, cut), cut .. ": engine file is "), "a truncated file")
    truthy(raises(hostgate.open, path .. ".missing"):find(path .. ".missing", 1, true), "a missing file")
    local err = raises(compiled.write, compiled, "/nonexistent-dir/x.engine")
    truthy(err:find("/nonexistent-dir", 1, true), "write fails: " .. err)
    os.remove(path)
    os.remove(cut)
end)

local function rss_kib()
    local statm = read("/proc/self/statm")
    return tonumber(statm:match("^%d+%s+(%d+)")) * 4
end

test("engines are freed by the garbage collector, and close does not free twice", function()
    local rules = {}
    for i = 1, 20000 do
        rules[#rules + 1] = string.format("allow host%d.example%d.test\n", i, i % 97)
    end
    local text = table.concat(rules)
    collectgarbage()
    local before = rss_kib()
    -- Each engine holds a few MiB; 60 of them, unfreed, would hold far more than the bound.
    local size
    for n = 1, 60 do
        local e = hostgate.compile(text)
        if n == 1 then
            size = rss_kib() - before
        end
        if n % 2 == 0 then
            e:close()
        end
        collectgarbage()
    end
    collectgarbage()
    local grown = rss_kib() - before
    truthy(size > 1024, "one engine should take over 1 MiB, took " .. size .. " KiB")
    truthy(grown < size * 10, "RSS grew by " .. grown .. " KiB for 60 engines of " .. size .. " KiB")
end)

test("check allocates nothing on the Lua side", function()
    local e = hostgate.compile("allow **.stripe.com port 443 via tls id stripe\nallow api.kadath.io\n")
    local names = { "checkout.stripe.com", "api.kadath.io", "evil.test", "API.KADATH.IO." }
    local function run(n)
        local allowed = 0
        for _ = 1, n do
            for k = 1, #names do
                if e:check(names[k], 443, "tls") then
                    allowed = allowed + 1
                end
            end
        end
        return allowed
    end
    run(2000) -- warm up: the loop's traces compiled, the rule ids cached
    collectgarbage()
    collectgarbage("stop")
    local before = collectgarbage("count")
    local allowed = run(50000)
    local grown = collectgarbage("count") - before
    collectgarbage("restart")
    eq(allowed, 150000, "allowed count")
    -- The smallest Lua object is 16 bytes: one per check would be over 3,000 KiB.
    truthy(grown < 1, "the Lua heap grew by " .. grown .. " KiB over 200,000 checks")
end)

print(string.format("lua: %d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
