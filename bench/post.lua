-- POST /consultation as a browser sends it from our page (Fetch Metadata, a Referer), a fresh valid
-- request each time: its own phone number and email address, so each is a new lead.
package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
require("report")

local threads = {}
local counter = 0
thread_id = 0  -- global: setup() sets it in each thread's own Lua state

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  -- Distinct per run too, so a second run against the same database never repeats a contact.
  math.randomseed(os.time() + thread_id * 7919)
  run_id = math.random(0, 0xffffff)
end

local fixed = "full_name=Maria+Example&location=bradenton&contact_method=phone&best_time=morning" ..
  "&message=I+have+tried+two+antidepressants.&consent=y&website=&referrer=&elapsed=42.0"

local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Sec-Fetch-Site"] = "same-origin",
  ["Referer"] = os.getenv("BENCH_ORIGIN") .. "/",
}

function request()
  counter = counter + 1
  local n = run_id * 1000000 + thread_id * 100000 + counter
  -- Valid US numbers: area code 941, exchange 200-999.
  local phone = string.format("941%07d", 2000000 + n % 7999999)
  local body = fixed ..
    "&phone=" .. phone ..
    "&email=bench-" .. string.format("%.0f", n) .. "%40example.com"
  return wrk.format("POST", "/consultation", headers, body)
end
