#!/usr/bin/env python3
"""A Python gRPC client decodes dataport's rich error model.

Usage: status_details.py ADDR TOKEN   (ADDR is host:port of a running `dataport serve`)

Makes failing calls through generic `channel.unary_unary` stubs with hand-serialised request
bytes (no generated code), and checks for each that `grpc_status.rpc_status.from_call` decodes
the `grpc-status-details-bin` trailer, that its code is the call's code, and that its details
hold the `dataport.v1.ErrorDetail`, a `google.rpc.ErrorInfo` (domain `dataport`, reason = the
error code name) and, for INVALID_ARGUMENT, a `google.rpc.BadRequest` naming the field.

Needs `python3 -m pip install grpcio grpcio-status`. Exits non-zero on any failure.
"""

import sys

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

ERROR_DETAIL_TYPE_URL = "type.googleapis.com/dataport.v1.ErrorDetail"
# dataport.v1.ErrorCode numbers of the codes the calls below expect.
ERROR_CODE_NUMBERS = {
    "NOT_FOUND": 5,
    "UNAUTHENTICATED": 19,
    "INVALID_ARGUMENT": 21,
}
TIMEOUT_SECS = 30


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_string(number, text):
    data = text.encode()
    return varint((number << 3) | 2) + varint(len(data)) + data


def read_varint(data, pos):
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def decode_error_detail(data):
    """dataport.v1.ErrorDetail: code = 1 (enum), message = 2 (string)."""
    code, message, pos = 0, "", 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = read_varint(data, pos)
            if number == 1:
                code = value
        elif wire_type == 2:
            length, pos = read_varint(data, pos)
            if number == 2:
                message = data[pos : pos + length].decode()
            pos += length
        else:
            raise AssertionError(f"unexpected wire type {wire_type} in ErrorDetail")
    return code, message


def failing_call(channel, method, request, metadata):
    call = channel.unary_unary(f"/dataport.v1.DataPort/{method}")
    try:
        call(request, metadata=metadata, timeout=TIMEOUT_SECS)
    except grpc.RpcError as err:
        return err
    raise AssertionError(f"{method} succeeded; it should have failed")


def check(name, err, code, reason, field=None):
    assert err.code() == code, f"{name}: code {err.code()}, expected {code}"
    # Raises ValueError when the trailer is no google.rpc.Status or its code or message
    # differ from the call's.
    status = rpc_status.from_call(err)
    assert status is not None, f"{name}: no grpc-status-details-bin trailer"
    assert status.code == code.value[0], f"{name}: google.rpc.Status code {status.code}"

    info = bad = detail = None
    for any_detail in status.details:
        if any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            any_detail.Unpack(info)
        elif any_detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            any_detail.Unpack(bad)
        elif any_detail.type_url == ERROR_DETAIL_TYPE_URL:
            detail = decode_error_detail(any_detail.value)

    assert info is not None, f"{name}: no google.rpc.ErrorInfo in {status.details}"
    assert info.domain == "dataport", f"{name}: ErrorInfo domain {info.domain!r}"
    assert info.reason == reason, f"{name}: ErrorInfo reason {info.reason!r}, expected {reason!r}"
    assert detail is not None, f"{name}: no dataport.v1.ErrorDetail in {status.details}"
    assert detail[0] == ERROR_CODE_NUMBERS[reason], f"{name}: ErrorDetail code {detail[0]}"
    assert detail[1] == err.details(), f"{name}: ErrorDetail message {detail[1]!r}"
    if field is None:
        assert bad is None, f"{name}: unexpected BadRequest {bad}"
    else:
        assert bad is not None, f"{name}: no google.rpc.BadRequest in {status.details}"
        fields = [v.field for v in bad.field_violations]
        assert fields == [field], f"{name}: BadRequest fields {fields}, expected [{field!r}]"
    print(f"ok: {name}: {code.name} {reason} {err.details()!r}")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: status_details.py ADDR TOKEN")
    addr, token = sys.argv[1], sys.argv[2]
    auth = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(addr) as channel:
        # CountRecordsRequest { module = MODULE_CUSTOMERS } without a token.
        err = failing_call(channel, "CountRecords", field_varint(1, 1), [])
        check("CountRecords without a token", err, grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")

        # CountRecordsRequest { module = 99 }: no such module.
        err = failing_call(channel, "CountRecords", field_varint(1, 99), auth)
        check(
            "CountRecords with an unknown module",
            err,
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            field="module",
        )

        # ListImportJobsRequest { page_token = "nope" }: not a token this server issued.
        err = failing_call(channel, "ListImportJobs", field_string(6, "nope"), auth)
        check(
            "ListImportJobs with a bad page token",
            err,
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            field="page_token",
        )

        # GetImportJobRequest { job_id = 987654 }: no such job.
        err = failing_call(channel, "GetImportJob", field_varint(1, 987654), auth)
        check("GetImportJob of an unknown job", err, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    print("status details: every check passed")


if __name__ == "__main__":
    main()
