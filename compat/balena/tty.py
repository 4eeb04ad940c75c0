"""The web terminal behind the resin-era /v1/spawn-tty: a page and its WebSocket bridge.

Frames: binary client frames are keystrokes; text client frames are JSON
({"input": "..."} or {"resize": [rows, cols]}); server frames are the TTY's output bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from handlers.engine.terminal import window_size
from handlers.errors import PolyvisorError

log = logging.getLogger("polyvisor.tty")


async def bridge(socket: WebSocket, terminals: Any) -> None:
    """Run one shell for one WebSocket until either side ends."""
    session = terminals.find(socket.path_params.get("token", ""))
    if session is None:
        await socket.close(code=1008)
        return
    await socket.accept()
    try:
        shell = await run_in_threadpool(terminals.open_shell, session)
    except PolyvisorError as err:
        await socket.send_text(json.dumps({"error": str(err)}))
        await socket.close(code=1011)
        return
    loop = asyncio.get_running_loop()

    async def output() -> None:
        while True:
            data = await loop.run_in_executor(None, shell.read)
            if not data:
                break
            await socket.send_bytes(data)
        with contextlib.suppress(RuntimeError):
            await socket.close()

    pump = asyncio.create_task(output())
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await run_in_threadpool(shell.write, message["bytes"])
                continue
            try:
                control = json.loads(message.get("text") or "{}")
            except (ValueError, RecursionError):  # not JSON, 5000 digits, nested too deep: ignored
                continue
            if not isinstance(control, dict):
                continue
            size = window_size(control.get("resize"))
            if isinstance(control.get("input"), str):
                await run_in_threadpool(shell.write, control["input"].encode())
            elif size is not None:
                with contextlib.suppress(PolyvisorError, Exception):
                    await run_in_threadpool(shell.resize, *size)
    finally:
        shell.close()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>polyvisor terminal</title>
<style>body{margin:0;background:#111;color:#ddd}pre{margin:0;padding:8px;font:14px monospace;
white-space:pre-wrap;word-break:break-all;min-height:100vh;outline:none}</style></head>
<body><pre id="t" tabindex="0"></pre><script>
const t=document.getElementById('t');t.focus();
const ws=new WebSocket(location.href.replace(/^http/,'ws').replace(/\\/?(\\?.*)?$/,'/ws'));
ws.binaryType='arraybuffer';const dec=new TextDecoder();let text='';
function show(s){s=s.replace(/\\x1b\\][^\\x07]*(\\x07|\\x1b\\\\)/g,'').replace(/\\x1b\\[[0-9;?]*[ -\\/]*[@-~]/g,'')
 .replace(/\\x1b[()][0-9A-Za-z]/g,'').replace(/\\r\\n/g,'\\n');
 for(const c of s){if(c==='\\b'){text=text.slice(0,-1)}else if(c==='\\r'){const i=text.lastIndexOf('\\n');
 text=text.slice(0,i+1)}else if(c>=' '||c==='\\n'||c==='\\t'){text+=c}}
 if(text.length>200000)text=text.slice(-100000);t.textContent=text;window.scrollTo(0,document.body.scrollHeight)}
ws.onmessage=e=>show(typeof e.data==='string'?e.data:dec.decode(e.data,{stream:true}));
ws.onclose=()=>show('\\r\\n[session closed]\\r\\n');
const keys={Enter:'\\r',Backspace:'\\x7f',Tab:'\\t',Escape:'\\x1b',ArrowUp:'\\x1b[A',ArrowDown:'\\x1b[B',
 ArrowRight:'\\x1b[C',ArrowLeft:'\\x1b[D',Home:'\\x1b[H',End:'\\x1b[F',Delete:'\\x1b[3~'};
function send(s){if(ws.readyState===1)ws.send(JSON.stringify({input:s}))}
t.addEventListener('keydown',e=>{let s=keys[e.key];
 if(!s&&e.ctrlKey&&e.key.length===1){s=String.fromCharCode(e.key.toUpperCase().charCodeAt(0)-64)}
 else if(!s&&e.key.length===1&&!e.metaKey){s=e.key}
 if(s){e.preventDefault();send(s)}});
t.addEventListener('paste',e=>{send(e.clipboardData.getData('text'));e.preventDefault()});
ws.onopen=()=>ws.send(JSON.stringify({resize:[Math.floor(innerHeight/17),Math.floor(innerWidth/8.4)]}));
</script></body></html>
"""
