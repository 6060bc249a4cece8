"""The hook tools' fast path: one server per test process that runs tool calls.

A hook makes about twenty tool calls (juju-log for every handler, config-get,
relation-ids, status-set ...). Started as ``python hooktool.py`` each costs ~45 ms
(an interpreter and its imports), which was half of every hook's time. The tool
scripts are bash instead: they send the call over a loopback TCP connection
(bash's ``/dev/tcp``) to this server, which runs ``hooktool.call`` in the test
process (~7 ms a call). Whatever the server cannot take - no server listening
(a script run after its test process ended), something else on the port, a tool
that reads stdin - the script runs ``hooktool.py`` itself, so a call behaves the
same either way; ``tests/test_harness.py`` compares the two paths.

Protocol, one call per connection. Request: NUL-terminated fields
``HT1, token, N, JUJU_CONTEXT_ID, cwd, state file, unit, tool`` and N arguments.
Reply: one line ``HT1 <exit code> <stderr as base64, or ->`` and then stdout.
The token (random per server) keeps the server to its own scripts: a script
whose port has since gone to another process finds no server that knows it, and
falls back.
"""

import base64
import secrets
import shlex
import socketserver
import threading

from . import hooktool

MAGIC = 'HT1'
_FIXED = 8          # fields before the arguments


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        fields = self._fields()
        if fields is None or fields[0] != MAGIC or fields[1] != self.server.token:
            return                       # not a harness script: close, the caller falls back
        _, _, _, context_id, cwd, state_path, unit, tool = fields[:_FIXED]
        args = fields[_FIXED:]
        self.server.served += 1
        try:
            rc, out, err = hooktool.call(state_path, unit, tool, args, '', context_id, cwd)
        except Exception as e:           # a harness bug: the hook sees a failed tool
            rc, out, err = 1, '', 'ERROR harness tool server: {!r}\n'.format(e)
        encoded = base64.b64encode(err.encode()).decode() if err else '-'
        self.request.sendall('{} {} {}\n'.format(MAGIC, rc, encoded).encode() + out.encode())

    def _fields(self):
        """The request's fields, once all have arrived (None: not a well-formed request)."""
        data = b''
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                return None
            data += chunk
            parts = data.split(b'\0')
            if len(parts) > 3:
                try:
                    wanted = _FIXED + int(parts[2])
                except ValueError:
                    return None
                if len(parts) > wanted:   # the last field's NUL has arrived
                    return [p.decode('utf-8', 'surrogateescape') for p in parts[:wanted]]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


_lock = threading.Lock()
_server = None


def address():
    """(port, token) of this process's tool server, started on first use."""
    global _server
    with _lock:
        if _server is None:
            server = _Server(('127.0.0.1', 0), _Handler)
            server.token = secrets.token_hex(16)
            server.served = 0
            threading.Thread(target=server.serve_forever, name='hook-tool-server',
                             daemon=True).start()
            _server = server
        return _server.server_address[1], _server.token


def served():
    """How many calls this process's server has run (0 when none is running)."""
    with _lock:
        return _server.served if _server is not None else 0


def stop():
    """Stop this process's server: the scripts written so far fall back to hooktool.py."""
    global _server
    with _lock:
        if _server is not None:
            _server.shutdown()
            _server.server_close()
            _server = None


def script(python, hooktool_dir, state_path, unit, tool):
    """The tool script: bash, which asks the server and falls back to hooktool.py."""
    port, token = address()
    loader = ('import sys; sys.path[0] = {!r}; from hooktool import main; '
              'sys.exit(main(sys.argv))').format(str(hooktool_dir))
    fallback = ' '.join(shlex.quote(w) for w in (
        python, '-S', '-c', loader, str(state_path), unit, tool))
    fixed = ' '.join(shlex.quote(w) for w in (MAGIC, token))
    where = ' '.join(shlex.quote(w) for w in (str(state_path), unit, tool))
    # the one tool that reads stdin (hooktool.needs_stdin) does so through hooktool.py
    stdin = ('for arg; do [ "$arg" = - ] || [ "$arg" = --file=- ] && fallback "$@"; done\n'
             if tool == 'relation-set' else '')
    return _SCRIPT.format(tool=tool, unit=unit, fallback=fallback, port=port, magic=MAGIC,
                          fixed=fixed, where=where, stdin=stdin)


_SCRIPT = """#!/bin/bash
# {tool} for {unit}: see tests/harness/toolserver.py
fallback() {{ exec {fallback} "$@"; }}
{stdin}{{ exec 3<>/dev/tcp/127.0.0.1/{port}; }} 2>/dev/null || fallback "$@"
printf '%s\\0' {fixed} "$#" "$JUJU_CONTEXT_ID" "$PWD" {where} "$@" >&3 2>/dev/null ||
    fallback "$@"
IFS=' ' read -r magic rc err <&3 || fallback "$@"
[ "$magic" = {magic} ] || fallback "$@"
[ "$err" = - ] || printf '%s' "$err" | base64 -d >&2
cat <&3
exit "$rc"
"""
