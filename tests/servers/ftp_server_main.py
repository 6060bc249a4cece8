"""Stand-alone pyftpdlib server (run as a subprocess by FtpServer).

usage: python ftp_server_main.py --host H --port P --root DIR --user U
       [--certfile F --keyfile F]       (explicit TLS, AUTH TLS, TLS required)
The password is read from the FTP_SERVER_PASSWORD environment variable.
"""

import argparse
import logging
import os
import sys


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--certfile")
    p.add_argument("--keyfile")
    p.add_argument("--passive-ports", default="")
    a = p.parse_args(argv)

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.servers import FTPServer

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    authorizer = DummyAuthorizer()
    authorizer.add_user(a.user, os.environ["FTP_SERVER_PASSWORD"], a.root, perm="elradfmwMT")

    if a.certfile:
        from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

        class DrainingTLSDTPHandler(TLS_DTPHandler):
            """Reads what OpenSSL already buffered before going back to the poller.

            pyftpdlib reads one TLS record per readable event; records OpenSSL has
            decrypted/buffered but not handed out do not make the socket readable
            again, and when the client closes the data connection right after its
            last write (lftp does) the upload is cut at a multiple of 16 KiB.
            """

            def handle_read(self):
                super().handle_read()
                while True:
                    sock = self.socket
                    if sock is None or not self.connected or self.file_obj is None:
                        return
                    pending = getattr(sock, "pending", None)
                    if pending is None or pending() <= 0:
                        return
                    super().handle_read()

        class Handler(TLS_FTPHandler):
            dtp_handler = DrainingTLSDTPHandler

        if os.environ.get("FTP_SERVER_TLS13") != "1":
            # TLS 1.3 servers send session tickets after the handshake; lftp never reads
            # them on an upload's data connection, so its close() turns into a TCP RST
            # and the kernel drops the tail of the upload before pyftpdlib reads it.
            from OpenSSL import SSL

            Handler.ssl_options = TLS_FTPHandler.ssl_options | SSL.OP_NO_TLSv1_3

        Handler.certfile = a.certfile
        Handler.keyfile = a.keyfile
        Handler.tls_control_required = True
        Handler.tls_data_required = True
    else:
        from pyftpdlib.handlers import FTPHandler

        class Handler(FTPHandler):
            pass

    Handler.authorizer = authorizer
    Handler.banner = "duplicity-test ftpd ready"
    if a.passive_ports:
        lo, hi = (int(x) for x in a.passive_ports.split("-"))
        Handler.passive_ports = range(lo, hi + 1)
    server = FTPServer((a.host, a.port), Handler)
    server.max_cons = 64
    server.serve_forever()


if __name__ == "__main__":
    main()
