-- GET one path; a returning visitor sends the session cookie given in BENCH_COOKIE.
package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
require("report")

-- What every browser sends: a server that can compress may (WhiteNoise serves the stylesheet's Brotli
-- copy; the app and hello-world send their pages as they are, and nginx here has gzip off).
wrk.headers["Accept-Encoding"] = "gzip, deflate, br"

local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
