-- wrk script: replays pre-signed webhook deliveries (see webhook_fixture.rs).
-- Usage: FIXTURE=deliveries.tsv wrk -t1 -c64 -d10s -s benches/webhook.lua http://127.0.0.1:8080
local requests = {}
local i = 0

function init(args)
  local path = os.getenv("FIXTURE") or "deliveries.tsv"
  for line in io.lines(path) do
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "/webhook/blooio", {
      ["Content-Type"] = "application/json",
      ["X-Blooio-Signature"] = sig,
      ["X-Blooio-Event"] = "message.received",
    }, body)
  end
  if #requests == 0 then error("no deliveries in " .. path) end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
