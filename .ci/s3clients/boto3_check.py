#!/usr/bin/python3
"""boto3 against a running Cairn S3 gateway; called by .ci/s3-clients.sh.

Usage: boto3_check.py ENDPOINT ACCESS_KEY SECRET_KEY BUCKET

Prints one PASS/FAIL line per check and exits non-zero at the first
failure. Needs Debian's python3-boto3 (run it with /usr/bin/python3).
"""

import concurrent.futures
import hashlib
import io
import os
import sys
import time
import traceback
import urllib.error
import urllib.request

import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

MiB = 1 << 20


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def client(endpoint, ak, sk, **cfg):
    cfg = {"signature_version": "s3v4", "s3": {"addressing_style": "path"},
           "retries": {"max_attempts": 3, "mode": "standard"}, **cfg}
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ak,
        aws_secret_access_key=sk,
        region_name="us-east-1",
        config=Config(**cfg),
    )


def error_code(e):
    return e.response.get("Error", {}).get("Code")


def main():
    endpoint, ak, sk, bucket = sys.argv[1:5]
    s3 = client(endpoint, ak, sk, max_pool_connections=32)
    steps = []

    def step(name):
        def deco(fn):
            steps.append((name, fn))
            return fn
        return deco

    @step("create bucket")
    def _():
        s3.create_bucket(Bucket=bucket)
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        check(bucket in names, f"{bucket} not in ListBuckets: {names}")
        s3.head_bucket(Bucket=bucket)
        try:
            s3.create_bucket(Bucket=bucket)
            raise Fail("creating the bucket twice succeeded")
        except ClientError as e:
            check(error_code(e) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"),
                  f"second create: {error_code(e)}")

    big = os.urandom(40 * MiB + 12345)

    @step("upload_fileobj 40 MiB multipart (8 MiB parts) and read back")
    def _():
        tc = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
        s3.upload_fileobj(io.BytesIO(big), bucket, "big/stream.bin", Config=tc,
                          ExtraArgs={"Metadata": {"kind": "stream"}, "ContentType": "application/x-test"})
        h = s3.head_object(Bucket=bucket, Key="big/stream.bin")
        check(h["ContentLength"] == len(big), f"size {h['ContentLength']} != {len(big)}")
        check(h["ETag"].strip('"').endswith("-6"), f"multipart ETag expected -6 parts: {h['ETag']}")
        check(h["ContentType"] == "application/x-test", f"ContentType {h['ContentType']}")
        check(h["Metadata"].get("kind") == "stream", f"Metadata {h['Metadata']}")
        out = io.BytesIO()
        s3.download_fileobj(bucket, "big/stream.bin", out, Config=tc)
        check(hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(big).digest(),
              "download_fileobj content differs")
        body = s3.get_object(Bucket=bucket, Key="big/stream.bin")["Body"].read()
        check(body == big, "get_object content differs")
        r = s3.get_object(Bucket=bucket, Key="big/stream.bin", Range="bytes=%d-%d" % (8 * MiB - 5, 8 * MiB + 4))
        check(r["Body"].read() == big[8 * MiB - 5:8 * MiB + 5], "ranged GET across a part boundary differs")

    @step("empty uploads (Expect: 100-continue) then PUTs on the same connection")
    def _():
        # botocore sends Expect: 100-continue with file-like bodies. If an
        # empty one gets its final answer without an interim 100, botocore
        # keeps that status line for the connection's next Expect request,
        # misparses its reply and waits for the read timeout.
        one = client(endpoint, ak, sk, read_timeout=15, max_pool_connections=1, retries={"total_max_attempts": 1})
        for i in range(3):
            one.put_object(Bucket=bucket, Key=f"expect/empty{i}", Body=io.BytesIO(b""))
            one.upload_fileobj(io.BytesIO(b"after empty %d" % i), bucket, f"expect/after{i}")
        for i in range(3):
            check(one.get_object(Bucket=bucket, Key=f"expect/empty{i}")["Body"].read() == b"", "empty object")
            check(one.get_object(Bucket=bucket, Key=f"expect/after{i}")["Body"].read() == b"after empty %d" % i,
                  "object written after an empty one")

    # Keys chosen so that bytewise order differs from per-directory name
    # order: "g3-x" < "g3.x" < "g3/x" < "g3_x" ('-' < '.' < '/' < '_').
    seps = ["/", "-", ".", "_", "/sub/", "~"]
    many = sorted({f"many/g{i % 10}{seps[i % len(seps)]}{i:05d}" for i in range(2500)})

    @step("put 2,500 small objects (16 threads)")
    def _():
        check(len(many) == 2500, f"{len(many)} keys")

        def put(k):
            s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            list(ex.map(put, many))

    @step("list_objects_v2 paginator: 2,500 keys in bytewise order (pages of 1000 and 333)")
    def _():
        for size in (None, 333):
            pag = s3.get_paginator("list_objects_v2")
            kw = {"Bucket": bucket, "Prefix": "many/"}
            if size:
                kw["PaginationConfig"] = {"PageSize": size}
            keys, pages = [], 0
            for page in pag.paginate(**kw):
                pages += 1
                keys += [o["Key"] for o in page.get("Contents", [])]
            check(len(keys) == 2500, f"page size {size}: listed {len(keys)} keys, want 2500")
            if keys != many:
                i = next(i for i, (a, b) in enumerate(zip(keys, many)) if a != b)
                raise Fail(f"page size {size}: keys not in bytewise order: at {i}, got {keys[i - 1:i + 2]}, "
                           f"want {many[i - 1:i + 2]}")
            want_pages = -(-2500 // (size or 1000))
            check(pages == want_pages, f"page size {size}: {pages} pages, want {want_pages}")

    @step("list_objects_v2 / list_objects paginators with delimiter")
    def _():
        want_cp = sorted({k[:k.index("/", len("many/")) + 1] for k in many if "/" in k[len("many/"):]})
        want_keys = sorted(k for k in many if "/" not in k[len("many/"):])
        for op in ("list_objects_v2", "list_objects"):
            cps, keys = [], []
            for page in s3.get_paginator(op).paginate(Bucket=bucket, Prefix="many/", Delimiter="/",
                                                       PaginationConfig={"PageSize": 25}):
                cps += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
                keys += [o["Key"] for o in page.get("Contents", [])]
            check(cps == want_cp, f"{op}: common prefixes {cps} != {want_cp}")
            check(keys == want_keys, f"{op}: {len(keys)} keys (want {len(want_keys)}) or wrong order")

    @step("generate_presigned_url(get_object) fetched with urllib")
    def _():
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big/stream.bin"},
                                        ExpiresIn=300)
        with urllib.request.urlopen(url, timeout=60) as r:
            check(r.status == 200, f"status {r.status}")
            data = r.read()
        check(data == big, "presigned GET content differs")
        # A key that needs encoding, and a response-* override.
        key = "presign/with space+plus é.txt"
        s3.put_object(Bucket=bucket, Key=key, Body=b"hello presign")
        url = s3.generate_presigned_url("get_object", ExpiresIn=300, Params={
            "Bucket": bucket, "Key": key, "ResponseContentDisposition": 'attachment; filename="x.txt"'})
        with urllib.request.urlopen(url, timeout=60) as r:
            check(r.read() == b"hello presign", "presigned GET (encoded key) content differs")
            check(r.headers.get("Content-Disposition") == 'attachment; filename="x.txt"',
                  f"Content-Disposition {r.headers.get('Content-Disposition')!r}")

    @step("presigned put_object uploaded with urllib")
    def _():
        url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presign/put.bin"},
                                        ExpiresIn=300)
        data = os.urandom(100000)
        req = urllib.request.Request(url, data=data, method="PUT")
        with urllib.request.urlopen(req, timeout=60) as r:
            check(r.status == 200, f"status {r.status}")
        check(s3.get_object(Bucket=bucket, Key="presign/put.bin")["Body"].read() == data,
              "presigned PUT content differs")

    @step("expired presigned URL (ExpiresIn=1, sleep 2) gets 403")
    def _():
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big/stream.bin"},
                                        ExpiresIn=1)
        time.sleep(2.5)
        try:
            urllib.request.urlopen(url, timeout=60).read()
            raise Fail("an expired presigned URL was accepted")
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            check(e.code == 403, f"status {e.code}, want 403: {body}")
            check("AccessDenied" in body, f"body: {body}")

    @step("wrong secret fails with SignatureDoesNotMatch")
    def _():
        bad = client(endpoint, ak, sk + "x")
        for call in (lambda: bad.list_objects_v2(Bucket=bucket, MaxKeys=1),
                     lambda: bad.put_object(Bucket=bucket, Key="nope", Body=b"x")):
            try:
                call()
                raise Fail("a request signed with the wrong secret succeeded")
            except ClientError as e:
                check(error_code(e) == "SignatureDoesNotMatch", f"code {error_code(e)}")
                check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, "status not 403")
        try:
            client(endpoint, "NOSUCHKEY0000000", sk).list_buckets()
            raise Fail("an unknown access key succeeded")
        except ClientError as e:
            check(error_code(e) == "InvalidAccessKeyId", f"unknown key: code {error_code(e)}")

    @step("head_object metadata round trip (put, copy COPY/REPLACE)")
    def _():
        meta = {"color": "blue", "owner-name": "ci", "mixed-case": "Value With Spaces"}
        s3.put_object(Bucket=bucket, Key="meta/obj", Body=b"meta body", Metadata=meta, ContentType="text/plain",
                      CacheControl="max-age=60", ContentDisposition="inline")
        h = s3.head_object(Bucket=bucket, Key="meta/obj")
        check(h["Metadata"] == meta, f"metadata {h['Metadata']} != {meta}")
        check(h["ContentType"] == "text/plain", f"ContentType {h['ContentType']}")
        check(h.get("CacheControl") == "max-age=60", f"CacheControl {h.get('CacheControl')}")
        check(h.get("ContentDisposition") == "inline", f"ContentDisposition {h.get('ContentDisposition')}")
        check(h["ETag"] == '"%s"' % hashlib.md5(b"meta body").hexdigest(), f"ETag {h['ETag']}")
        s3.copy_object(Bucket=bucket, Key="meta/copy", CopySource={"Bucket": bucket, "Key": "meta/obj"})
        h = s3.head_object(Bucket=bucket, Key="meta/copy")
        check(h["Metadata"] == meta, f"copied metadata {h['Metadata']}")
        s3.copy_object(Bucket=bucket, Key="meta/copy", CopySource={"Bucket": bucket, "Key": "meta/obj"},
                       MetadataDirective="REPLACE", Metadata={"new": "1"})
        h = s3.head_object(Bucket=bucket, Key="meta/copy")
        check(h["Metadata"] == {"new": "1"}, f"replaced metadata {h['Metadata']}")
        try:
            s3.head_object(Bucket=bucket, Key="meta/missing")
            raise Fail("HEAD of a missing key succeeded")
        except ClientError as e:
            check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, "missing key: not 404")

    @step("delete_objects batch (1000 + rest), bucket empty, delete bucket")
    def _():
        keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in p.get("Contents", [])]
        check(len(keys) >= 2500, f"{len(keys)} keys before the batch delete")
        deleted = 0
        for i in range(0, len(keys), 1000):
            r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
            check(not r.get("Errors"), f"delete errors: {(r.get('Errors') or [])[:3]}")
            deleted += len(r.get("Deleted", []))
        check(deleted == len(keys), f"deleted {deleted} of {len(keys)}")
        r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "never/existed"}], "Quiet": True})
        check(not r.get("Errors") and not r.get("Deleted"), f"quiet delete of a missing key: {r}")
        r = s3.list_objects_v2(Bucket=bucket)
        check(r["KeyCount"] == 0 and not r.get("Contents"), f"bucket not empty: {r.get('Contents', [])[:3]}")
        s3.delete_bucket(Bucket=bucket)
        try:
            s3.head_bucket(Bucket=bucket)
            raise Fail("bucket still exists after delete_bucket")
        except ClientError as e:
            check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, "deleted bucket: not 404")

    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}", flush=True)
    for name, fn in steps:
        t = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report any failure the same way
            print(f"FAIL: boto3: {name}: {type(e).__name__}: {e}", flush=True)
            if not isinstance(e, Fail):
                traceback.print_exc()
            return 1
        print(f"PASS: boto3: {name} ({time.monotonic() - t:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
