-- GET one path; a returning visitor sends the session cookie given in BENCH_COOKIE.
package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
require("report")

local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
