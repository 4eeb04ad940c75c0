"""The Lua side of gosd's helper library (v2.2.0 luavm/lua: lib_plan, lib_node, lib_geo, lib_log,
lib_main, default.lua), written anew with the same functions and behaviour, and the sandbox
prelude that binds them to the host (luavm.py) the way gopher-luar bound gosd's Go Service as
the global `SD`. Kept as strings so the frozen binary needs no data files.

Each chunk runs in a fresh Lua 5.1 state (gopher-lua's dialect: `unpack`, the `arg` table of
vararg functions).
"""

from __future__ import annotations

# Runs first, as a function of (host, sethook, traceback, every): installs the instruction-count
# hook, takes away what reaches the host system, and defines SD, json, require, print.
PRELUDE = r"""
local host, sethook, traceback, every = ...
local error, type, tostring, select, unpack, pairs = error, type, tostring, select, unpack, pairs
local concat = table.concat

-- every `every` Lua instructions: is the job still allowed to run? Once it is not, check at
-- every instruction, so that a pcall catching the error cannot keep the script going.
local function hook()
  if not host.alive() then
    sethook(hook, "", 1)
    error(host.halted(), 0)
  end
end
sethook(hook, "", every)

-- coroutines carry their own hook in Lua 5.1
local create, resume = coroutine.create, coroutine.resume
coroutine.create = function(f)
  local co = create(f)
  sethook(co, hook, "", every)
  return co
end
coroutine.wrap = function(f)
  local co = coroutine.create(f)
  local function finish(ok, ...)
    if not ok then
      error((...), 0)
    end
    return ...
  end
  return function(...)
    return finish(resume(co, ...))
  end
end

-- no host access: no files, processes, environment, native modules or bytecode
io, package, module, dofile, loadfile, python = nil, nil, nil, nil, nil, nil
for _, name in pairs({"execute", "exit", "remove", "rename", "tmpname", "getenv", "setlocale"}) do
  os[name] = nil
end
string.dump = nil
debug = {traceback = traceback}
local raw_loadstring = loadstring
loadstring = function(chunk, name)
  if type(chunk) == "string" and chunk:byte(1) == 27 then
    return nil, "binary chunks are not loaded"
  end
  return raw_loadstring(chunk, name)
end
load = function(source, name)
  if type(source) == "string" then
    return loadstring(source, name)
  end
  local pieces = {}
  while true do
    local piece = source()
    if piece == nil or piece == "" then
      break
    end
    pieces[#pieces + 1] = piece
  end
  return loadstring(concat(pieces), name)
end

json = {encode = host.json_encode, decode = host.json_decode}
local modules = {json = json}
require = function(name)
  local found = modules[name]
  if found == nil then
    error("module '" .. tostring(name) .. "' not found", 2)
  end
  return found
end

print = function(...)
  local words = {}
  for i = 1, select("#", ...) do
    words[i] = tostring((select(i, ...)))
  end
  host.print(concat(words, "\t"))
end

-- gosd's Go Service, as scripts call it: SD:Method(...) -> value, err (err nil or a message)
SD = {}
for _, name in pairs({"Sleep", "ToggleDialog", "CleanDialog", "IOGets", "IOPuts", "Notification",
                      "GetAttach", "SetAttach", "BlobReader", "BlobUpdate", "BlobCreate", "BlobUrl",
                      "GenRpcID", "RpcSend", "RpcRecv", "GetMsg", "GetStatus", "GetNetwork"}) do
  local call = host[name]
  SD[name] = function(self, ...)
    return call(...)
  end
end

-- how the job's end is told: a table error (a node's JSON-RPC error) as its JSON
return function(main, node_id)
  local ok, err = xpcall(function() return main(node_id) end, function(e)
    if type(e) == "table" then
      local text = host.json_encode(e)
      return text or tostring(e)
    end
    return tostring(e)
  end)
  if not ok then
    error(err, 0)
  end
end
"""

LIB_MAIN = r"""
json = require("json")

sleep = function(duration)
  local err = SD:Sleep(duration)
  if err == "Be killed" then
    error(err, 0)
  end
end

function SD_main(node_id)
  return main(NewPlan(node_id))
end
"""

LIB_PLAN = r"""
local function raise(err)
  if err ~= nil then
    error(err, 0)
  end
end

-- a blob key of the plan's or the job's files, created (empty) when missing
local function file_url(plan, get, set, key)
  local files = get(plan) or {}
  local id = files[key]
  if not id then
    id = tostring(SD:BlobCreate("filename", ""))
    files[key] = id
    set(plan, files)
  end
  return SD:BlobUrl(id)
end

local function set_content(plan, get, set, key, filename, content)
  local files = get(plan) or {}
  local id = tonumber(files[key])
  if filename == "" then
    return  -- gosd never deleted the blob (a TODO)
  end
  if id then
    SD:BlobUpdate(id, filename, content)
  else
    files[key] = tostring(SD:BlobCreate(filename, content))
    set(plan, files)
  end
end

local function content(plan, get, key)
  local files = get(plan) or {}
  local filename, data = SD:BlobReader(tonumber(files[key]))
  if filename == nil then
    error(data, 0)
  end
  return filename, data
end

function NewPlan(nodeID)
  local plan = {nodeID = nodeID}

  function plan:ToggleDialog(dialog) raise(SD:ToggleDialog(dialog)) end
  function plan:CleanDialog() SD:CleanDialog() end
  function plan:Gets()
    local data, err = SD:IOGets()
    raise(err)
    return data
  end
  function plan:Puts(data) raise(SD:IOPuts(data)) end
  function plan:Notification(msg, level)
    return SD:Notification({time = os.time(), level = tonumber(level or 5), msg = tostring(msg)})
  end

  function plan:GetAttach()
    local raw, err = SD:GetAttach()
    raise(err)
    return json.decode(raw)
  end
  function plan:SetAttach(attach) raise(SD:SetAttach(json.encode(attach))) end

  function plan:GetExtra() return self:GetAttach().extra end
  function plan:SetExtra(extra)
    local attach = self:GetAttach()
    attach.extra = extra
    self:SetAttach(attach)
  end
  function plan:GetJobExtra() return self:GetAttach().job.extra end
  function plan:SetJobExtra(extra)
    local attach = self:GetAttach()
    attach.job.extra = extra
    self:SetAttach(attach)
  end
  function plan:GetFiles() return self:GetAttach().files end
  function plan:SetFiles(files)
    local attach = self:GetAttach()
    attach.files = files
    self:SetAttach(attach)
  end
  function plan:GetJobFiles() return self:GetAttach().job.files end
  function plan:SetJobFiles(files)
    local attach = self:GetAttach()
    attach.job.files = files
    self:SetAttach(attach)
  end

  function plan:GetFileContent(key) return content(self, self.GetFiles, key) end
  function plan:SetFileContent(key, filename, data)
    set_content(self, self.GetFiles, self.SetFiles, key, filename, data)
  end
  function plan:GetJobFileContent(key) return content(self, self.GetJobFiles, key) end
  function plan:SetJobFileContent(key, filename, data)
    set_content(self, self.GetJobFiles, self.SetJobFiles, key, filename, data)
  end

  function plan:FileUrl(key) return file_url(self, self.GetFiles, self.SetFiles, key) end
  function plan:JobFileUrl(key) return file_url(self, self.GetJobFiles, self.SetJobFiles, key) end
  function plan:LogFileUrl(key) return self:JobFileUrl(key) end

  return plan
end
"""

LIB_NODE = r"""
local function decoded(raw, err)
  if err ~= nil then
    error(err, 0)
  end
  return json.decode(raw)
end

function NewNode(nodeID)
  local node = {id = tostring(nodeID)}

  -- send now; the function returned waits for the answer: its result, or its error raised
  function node:AsyncCall(method, params)
    local request = json.encode({id = SD:GenRpcID(), method = tostring(method), params = params,
                                 jsonrpc = "2.0"})
    print(self.id, "SEND -->", request)
    local id, err = SD:RpcSend(self.id, request)
    if err ~= nil then
      error(err, 0)
    end
    return function()
      print(self.id, "await -->", id)
      local data, failed = SD:RpcRecv(id)
      if failed ~= nil then
        error(failed, 0)
      end
      print(self.id, "RECV -->", data)
      local answer = json.decode(data)
      if answer["result"] then
        return answer["result"]
      end
      if answer["error"] then
        error(answer["error"], 0)
      end
      error("Result Error", 0)
    end
  end
  function node:SyncCall(method, params) return self:AsyncCall(method, params)() end

  function node:GetMsg(name) return decoded(SD:GetMsg(self.id, name)) end
  function node:GetStatus() return decoded(SD:GetStatus(self.id)) end
  function node:GetNetwork() return decoded(SD:GetNetwork(self.id)) end
  function node:GetID(key) return self:GetStatus().status[key or "link_id"] end

  return node
end
"""

LIB_GEO = r"""
Geo = {}

-- great-circle distance in metres (Earth radius 6371004 m), the cosine clamped to [-1, 1] so
-- that two equal points give 0 rather than NaN
function Geo:Distance(aLng, aLat, bLng, bLat)
  local rad, sin, cos = math.rad, math.sin, math.cos
  local c = sin(rad(aLat)) * sin(rad(bLat)) + cos(rad(aLat)) * cos(rad(bLat)) * cos(rad(bLng - aLng))
  return 6371004 * math.acos(math.max(-1, math.min(1, c)))
end

function GetDistance(aLng, aLat, bLng, bLat)
  return Geo:Distance(aLng, aLat, bLng, bLat)
end
"""

LIB_LOG = r"""
-- a text log: each Println is one numbered line, shaped by fnLine(line, n) from the words
-- shaped by fnWord(word, i) and each followed by a tab (the words stop at the first nil)
function NewLog(fnLine, fnWord)
  fnLine = fnLine or function(line, n) return tostring(n) .. ": " .. line end
  fnWord = fnWord or function(word, i) return tostring(word) end
  return {
    _nu = 0,
    _content = "",
    _fnLine = fnLine,
    _fnWord = fnWord,
    Println = function(self, ...)
      self._nu = self._nu + 1
      local line = ""
      for i, word in ipairs({...}) do
        line = line .. self._fnWord(word, i) .. "\t"
      end
      self._content = self._content .. self._fnLine(line, self._nu) .. "\n"
    end,
    GetContent = function(self) return self._content end,
  }
end
"""

LIBRARIES = (("lib_plan", LIB_PLAN), ("lib_node", LIB_NODE), ("lib_geo", LIB_GEO), ("lib_log", LIB_LOG),
             ("lib_main", LIB_MAIN))

# The script of a plan without a `lua` file when no LUA_FILE is set: like gosd's default.lua it
# asks the operator to have a flow configured (its dialog texts kept: the web UI shows them) and
# saves its log as the job's file `luavm`. Unlike gosd's it also raises the dialog when the node
# has never published its status (gosd's ended with an error before the dialog).
DEFAULT = r"""
local log = NewLog(function(line, n)
  return tostring(n) .. ": \t" .. os.date("%Y/%m/%d %H:%M:%S") .. " " .. line
end, function(word)
  if type(word) == "table" then
    return json.encode(word)
  end
  return tostring(word)
end)
local raw_print = print
print = function(...)
  raw_print(...)
  log:Println(...)
end

function main(plan)
  print("=== START Lua ===")
  sleep("1ms")
  local drone = NewNode(plan.nodeID)
  print("Drone Id:", drone.id)
  local ok, status = pcall(drone.GetStatus, drone)
  if ok then
    local depot = NewNode(status.status and status.status.link_id)
    print("Depot Id:", depot.id)
    print("Drone Status:", json.encode(status))
  else
    print("Drone Status:", status)
  end

  plan = NewPlan(plan.nodeID)
  plan:CleanDialog()
  plan:ToggleDialog({
    name = "错误",
    message = "请联系管理员在后端指定默认流程，或者上传自定义流程",
    level = "error",
    buttons = {
      {name = "返回", message = "no", level = "primary"},
    },
  })
  if plan:Gets() == "no" then
    print("Task canceled")
    return
  end
  plan:CleanDialog()

  print("=== END Lua END ===")
  plan:SetJobFileContent("luavm", "luavm.txt", log:GetContent())
end
"""
