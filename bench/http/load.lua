-- wrk script for bench/http/run: one scenario per run, chosen by the first argument after
-- `--`; ids and search terms come from files the runner writes. Prints one JSON line.
--   wrk -s load.lua URL -- SCENARIO IDS_FILE TERMS_FILE API_KEY
local scenario, ids, terms, counter = nil, {}, {}, 0
local thread_no = 0
local threads = {}

local function lines(path)
  local out = {}
  local f = io.open(path, "r")
  if f then
    for line in f:lines() do
      if #line > 0 then out[#out + 1] = line end
    end
    f:close()
  end
  return out
end

function setup(thread)
  thread_no = thread_no + 1
  thread:set("id", thread_no)
  threads[#threads + 1] = thread
end

function init(args)
  scenario = args[1]
  ids = lines(args[2])
  terms = lines(args[3])
  wrk.headers["Authorization"] = "Bearer " .. args[4]
  wrk.headers["Accept"] = "application/json"
  math.randomseed(os.time() * 1000 + id)
end

-- wrk.format replaces wrk.headers (and its Authorization) with the headers it is given.
local function with_headers(extra)
  local h = {}
  for k, v in pairs(wrk.headers) do h[k] = v end
  for k, v in pairs(extra) do h[k] = v end
  return h
end

local function encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  counter = counter + 1
  if scenario == "healthz" then
    -- The server's own floor: no database, no authentication, a fixed body.
    return wrk.format("GET", "/healthz")
  elseif scenario == "get" then
    return wrk.format("GET", "/api/v1/contacts/" .. ids[math.random(#ids)])
  elseif scenario == "create" then
    local body = string.format(
      '{"first_name":"Bench","last_name":"Créé %d-%d","emails":[{"label":"work","value":"bench-%d-%d-%d@example.test"}],"tags":["bench"]}',
      id, counter, id, counter, math.random(1e9))
    return wrk.format("POST", "/api/v1/contacts", with_headers({["Content-Type"] = "application/json"}), body)
  elseif scenario == "update" then
    local body = string.format('{"job_title":"Titre %d"}', math.random(1e6))
    return wrk.format("PATCH", "/api/v1/contacts/" .. ids[math.random(#ids)],
      with_headers({["Content-Type"] = "application/merge-patch+json"}), body)
  elseif scenario == "list" then
    return wrk.format("GET", "/api/v1/contacts?limit=50&filter%5Btag%5D=VIP")
  elseif scenario == "search" then
    return wrk.format("GET", "/api/v1/contacts?limit=50&q=" .. encode(terms[math.random(#terms)]))
  elseif scenario == "timeline" then
    return wrk.format("GET", "/api/v1/activities?limit=50&sort=-starts_at&filter%5Bcontact_id%5D=" .. ids[math.random(#ids)])
  elseif scenario == "activity" then
    local body = string.format(
      '{"kind":"call","subject":"Appel %d-%d","starts_at":"2026-12-01T09:00:00Z","contact_id":"%s"}',
      id, counter, ids[math.random(#ids)])
    return wrk.format("POST", "/api/v1/activities", with_headers({["Content-Type"] = "application/json"}), body)
  end
  error("unknown scenario " .. tostring(scenario))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
