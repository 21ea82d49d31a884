-- One address sending POST /consultation as fast as it can: after the first few, the rate limit
-- answers 429 to every one of them.
package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
require("report")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Sec-Fetch-Site"] = "same-origin"
wrk.body = "full_name=Flood&phone=9415550199&email=flood%40example.com&location=bradenton" ..
  "&contact_method=phone&consent=y&website="
