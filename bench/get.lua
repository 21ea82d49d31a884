-- GET one path as a browser does. BENCH_ACCEPT_ENCODING overrides what it accepts ("" for none);
-- BENCH_IF_NONE_MATCH makes it a returning reader revalidating the page it holds (a 304).
package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
require("report")

local accept = os.getenv("BENCH_ACCEPT_ENCODING") or "gzip, deflate, br"
if accept ~= "" then
  wrk.headers["Accept-Encoding"] = accept
end

local etag = os.getenv("BENCH_IF_NONE_MATCH")
if etag and etag ~= "" then
  wrk.headers["If-None-Match"] = etag
end
