-- POST /consultation end to end: the session cookie and CSRF token of one page view, and a fresh valid
-- lead each time (its own submission key, phone number and email address).
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
  -- Distinct per run too, so a second run against the same database never repeats a key or a contact.
  math.randomseed(os.time() + thread_id * 7919)
  run_id = math.random(0, 0xffffff)
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local fixed = "full_name=Maria+Example&location=bradenton&contact_method=phone&best_time=morning" ..
  "&message=I+have+tried+two+antidepressants.&consent=y&website=" ..
  "&csrf_token=" .. urlencode(os.getenv("BENCH_CSRF")) ..
  "&started=" .. urlencode(os.getenv("BENCH_STARTED")) ..
  "&utm_source=&utm_medium=&utm_campaign=&referrer=&landing_path=%2F"

local headers = {
  ["Cookie"] = os.getenv("BENCH_COOKIE"),
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Referer"] = os.getenv("BENCH_ORIGIN") .. "/",
}

function request()
  counter = counter + 1
  local n = run_id * 1000000 + thread_id * 100000 + counter
  local key = string.format("%08x%08x%016x", run_id, thread_id, counter)
  -- Valid US numbers: area code 941, exchange 200-999.
  local phone = string.format("941%07d", 2000000 + n % 7999999)
  local body = fixed ..
    "&submission_key=" .. key ..
    "&phone=" .. phone ..
    "&email=bench-" .. string.format("%.0f", n) .. "%40example.com"
  return wrk.format("POST", "/consultation", headers, body)
end
