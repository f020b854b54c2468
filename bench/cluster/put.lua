-- wrk: upserts of random documents (dimension 8) into collection "b".
math.randomseed(os.time() + (tonumber(os.getenv("WRK_SEED") or "0")))
request = function()
  local id = math.random(1, 100000)
  local v = {}
  for i = 1, 8 do v[i] = string.format("%.3f", math.random()) end
  local body = '{"vector":[' .. table.concat(v, ",") .. '],"content":"bench"}'
  return wrk.format("PUT", "/v1/collections/b/documents/d" .. id, {["Content-Type"] = "application/json"}, body)
end
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("report")
