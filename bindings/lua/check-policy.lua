-- Compiles policy files as the Lua binding loads them, to run before `nginx -s reload`
-- (`nginx -t` does not run init_by_lua: the lua module starts no Lua under -t).
--
--   luajit check-policy.lua FILE [FORMAT]
--
-- Prints every error as `FILE:LINE:COL: message` on stderr and exits 1 when the policy does not
-- compile; prints its warnings on stderr and exits 0 when it does.

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local path, format = arg[1], arg[2]
if not path or arg[3] then
    io.stderr:write("usage: luajit check-policy.lua FILE [FORMAT]\n")
    os.exit(2)
end

local hostgate = require "hostgate"
local ok, engine = pcall(hostgate.load, path, format)
if not ok then
    io.stderr:write(tostring(engine), "\n")
    os.exit(1)
end
for _, w in ipairs(engine:warnings()) do
    io.stderr:write(w, "\n")
end
io.stderr:write(path, ": ok, ", #engine:policies(), " policies\n")
os.exit(0)
