-- wrk: gets of documents d1..d1000 of collection "b" (written before the run).
math.randomseed(os.time() + (tonumber(os.getenv("WRK_SEED") or "0")))
request = function()
  return wrk.format("GET", "/v1/collections/b/documents/d" .. math.random(1, 1000))
end
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("report")
