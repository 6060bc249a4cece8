"""Structurally valid SSH key material for unit tests, made up on the spot (no real keys).

The charm checks what ssh and paramiko check before using a value: a known_hosts key is
base64 of an SSH wire blob that starts with its key type, an OpenSSH private key is
``openssh-key-v1`` with a cipher name. These builders produce such values from a seed.
"""
import base64
import hashlib


def ssh_string(data):
    return len(data).to_bytes(4, "big") + data


def _noise(seed, size):
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256("{}:{}".format(seed, counter).encode()).digest()
        counter += 1
    return out[:size]


def host_key(kind="ssh-ed25519", seed="host"):
    """``<kind> <base64 blob>``, as in a known_hosts line or a .pub file."""
    blob = ssh_string(kind.encode()) + ssh_string(_noise(seed, 32))
    return "{} {}".format(kind, base64.b64encode(blob).decode())


def _wrap(data, width=70):
    text = base64.b64encode(data).decode()
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def openssh_private_key(cipher="none", seed="key"):
    """An ``-----BEGIN OPENSSH PRIVATE KEY-----`` file (not usable, but well formed)."""
    kdf = b"none" if cipher == "none" else b"bcrypt"
    blob = (b"openssh-key-v1\0" + ssh_string(cipher.encode()) + ssh_string(kdf) +
            ssh_string(b"" if cipher == "none" else _noise(seed + "salt", 24)) +
            (1).to_bytes(4, "big") + ssh_string(host_key(seed=seed).split()[1].encode()) +
            ssh_string(_noise(seed, 160)))
    return ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + _wrap(blob) +
            "\n-----END OPENSSH PRIVATE KEY-----\n")


def pem_private_key(label="RSA PRIVATE KEY", seed="pem", headers=()):
    """A PEM block with the given label (and RFC 1421 headers such as Proc-Type)."""
    head = "".join(h + "\n" for h in headers) + ("\n" if headers else "")
    return "-----BEGIN {0}-----\n{1}{2}\n-----END {0}-----\n".format(
        label, head, _wrap(_noise(seed, 300), 64))


def b64(text):
    return base64.b64encode(text.encode()).decode()
