-- wrk script of the argo-bridge benchmark: posts one JSON body over keep-alive connections.
-- The load generator (bench/src/wrk.rs) runs it as
--   WRK_BODY=FILE WRK_HEADERS=$'Authorization: Bearer ...\n' wrk -t1 -c32 -d5s --latency -s bench/wrk.lua URL
-- WRK_BODY: a file holding the request body; WRK_HEADERS: extra headers, one "Name: value" a
-- line (Authorization for the gateway and the native endpoints, x-api-key and
-- anthropic-version for /v1/messages). wrk adds Host and Content-Length.
local path = assert(os.getenv("WRK_BODY"), "WRK_BODY names the body file")
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.-)%s*$")
  if name then
    wrk.headers[name] = value
  end
end
