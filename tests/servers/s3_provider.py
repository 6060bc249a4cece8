"""A fake provider of Canonical's ``s3`` interface (the s3-integrator's side), for the harness.

The test plays the provider application: ``publish()`` writes its application databag the way
the s3-integrator does, in v0 (``access-key``/``secret-key`` in plain text) or v1 (the keys in
a Juju secret owned by the provider and granted to the requirer, named by ``secret-extra``).
A v1 provider publishes ``secret-extra`` only once the requirer asked for the keys
(``requested-secrets``), as the s3 lib does.
"""

import json


class FakeS3Provider:
    def __init__(self, model, requirer, endpoint="s3-credentials", name="s3-integrator",
                 version=0):
        self.model = model
        self.requirer = requirer
        self.name = name
        self.version = version
        self.app = model.add_application(name)
        self.unit = self.app.add_unit()
        self.relation = model.relate("{}:{}".format(requirer, endpoint),
                                     "{}:s3-credentials".format(name))
        self.secret_uri = None

    def requested(self):
        """What the requirer's leader published in its application databag."""
        return self.relation.data(self.requirer)

    def publish(self, server, bucket, path="", access_key=None, secret_key=None, **extra):
        """Share ``bucket``/``path`` of an S3Server (moto) and its keys (or these: moto
        accepts any)."""
        data = {"bucket": bucket, "path": path, "endpoint": server.endpoint_url,
                "region": server.region}
        keys = {"access-key": access_key or server.access_key,
                "secret-key": secret_key or server.secret_key}
        if self.version == 1:
            asked = json.loads(self.requested().get("requested-secrets") or "[]")
            assert set(keys) <= set(asked), "the requirer did not ask for the keys"
            if self.secret_uri is None:
                self.secret_uri = self.model.add_secret(keys, owner=self.name,
                                                        grants=[self.requirer])
            else:
                self.model.update_secret(self.secret_uri, keys)
            data["secret-extra"] = self.secret_uri
        else:
            data.update(keys)
        data.update(extra)
        self.relation.set_data(self.name, data)
        return data
