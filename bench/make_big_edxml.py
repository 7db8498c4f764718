#!/usr/bin/env python3
"""Writes a large edXML document for the memory benchmark.

    make_big_edxml.py OUT SIZE_MB FROM_ORGAN TO_ORGAN [TO_ORGAN...]

The envelope and header follow testdata/edxml/edoc.edxml (QCVN 102:2016: MessageHeader with
From/To/Code/PromulgationInfo/DocumentType/Subject/..., TraceHeaderList, edXMLBody manifest,
root-level AttachmentEncoded laid out as in edoc_update.edxml, so the file is namespace
well-formed). It carries one attachment of SIZE_MB MiB of random bytes,
base64-encoded in 76-character lines. The file is streamed: memory use stays constant whatever
the size.
"""
import base64
import os
import sys
import time
import uuid
from xml.sax.saxutils import escape

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
CHUNK = 57 * 4096  # a multiple of 57 bytes, so every full line has exactly 76 characters

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{ns}">
  <edXML:edXMLEnvelope xmlns:edXML="{ns}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From>
          <edXML:OrganId>{frm}</edXML:OrganId>
          <edXML:OrganizationInCharge>Văn phòng UBND tỉnh</edXML:OrganizationInCharge>
          <edXML:OrganName>Đơn vị gửi (benchmark)</edXML:OrganName>
          <edXML:OrganAdd>Số 1, Thành phố</edXML:OrganAdd>
          <edXML:Email>bench@example.gov.vn</edXML:Email>
          <edXML:Telephone>0000000</edXML:Telephone>
          <edXML:Fax>0000000</edXML:Fax>
          <edXML:Website>example.gov.vn</edXML:Website>
        </edXML:From>
{tos}        <edXML:Code>
          <edXML:CodeNumber>{num}</edXML:CodeNumber>
          <edXML:CodeNotation>BENCH-BIG</edXML:CodeNotation>
        </edXML:Code>
        <edXML:PromulgationInfo>
          <edXML:Place>Hà Nội</edXML:Place>
          <edXML:PromulgationDate>{date}</edXML:PromulgationDate>
        </edXML:PromulgationInfo>
        <edXML:DocumentType>
          <edXML:Type>1</edXML:Type>
          <edXML:TypeName>Công văn</edXML:TypeName>
        </edXML:DocumentType>
        <edXML:Subject>Văn bản kèm tệp lớn ({mb} MB) - kiểm thử hiệu năng</edXML:Subject>
        <edXML:Content>Tệp đính kèm {mb} MB dữ liệu ngẫu nhiên</edXML:Content>
        <edXML:SignerInfo>
          <edXML:Competence>KT. CHỦ TỊCH</edXML:Competence>
          <edXML:Position>Phó Chủ tịch</edXML:Position>
          <edXML:FullName>Nguyễn Văn A</edXML:FullName>
        </edXML:SignerInfo>
        <edXML:DueDate>{date}</edXML:DueDate>
        <edXML:ToPlaces>
          <edXML:Place>Các sở, ban, ngành</edXML:Place>
        </edXML:ToPlaces>
        <edXML:OtherInfo>
          <edXML:Priority>0</edXML:Priority>
          <edXML:SphereOfPromulgation>Lưu hành nội bộ</edXML:SphereOfPromulgation>
          <edXML:TyperNotation>TVC</edXML:TyperNotation>
          <edXML:PromulgationAmount>1</edXML:PromulgationAmount>
          <edXML:PageAmount>1</edXML:PageAmount>
        </edXML:OtherInfo>
        <edXML:SteeringType>1</edXML:SteeringType>
        <edXML:DocumentId>{frm},{date},{num}/BENCH-BIG</edXML:DocumentId>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader>
          <edXML:OrganId>{frm}</edXML:OrganId>
          <edXML:Timestamp>{stamp}</edXML:Timestamp>
        </edXML:TraceHeader>
      </edXML:TraceHeaderList>
    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference>
          <edXML:ContentId>cid:{cid}</edXML:ContentId>
          <edXML:AttachmentName>{name}</edXML:AttachmentName>
          <edXML:Description>Random data</edXML:Description>
        </edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment>
      <ContentId>cid:{cid}</ContentId>
      <AttachmentName>{name}</AttachmentName>
      <Description>Random data</Description>
      <ContentType>application/octet-stream</ContentType>
      <edXML:ContentTransferEncoded xmlns:edXML="{ns}">
"""

TO = """        <edXML:To>
          <edXML:OrganId>{org}</edXML:OrganId>
          <edXML:OrganName>Đơn vị nhận (benchmark)</edXML:OrganName>
          <edXML:OrganAdd>Số 2, Thành phố</edXML:OrganAdd>
          <edXML:Email>bench@example.gov.vn</edXML:Email>
        </edXML:To>
"""

TAIL = """</edXML:ContentTransferEncoded>
    </Attachment>
  </AttachmentEncoded>
</edXML>
"""


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    out, frm, tos = argv[1], argv[3], argv[4:]
    try:
        mb = float(argv[2])
    except ValueError:
        sys.stderr.write("make_big_edxml: SIZE_MB must be a number\n")
        return 2
    if not 0 < mb <= 4096:
        sys.stderr.write("make_big_edxml: SIZE_MB out of range (0, 4096]\n")
        return 2
    total = int(mb * 1024 * 1024)
    now = time.localtime()
    head = HEAD.format(
        ns=NS,
        frm=escape(frm),
        tos="".join(TO.format(org=escape(t)) for t in tos),
        num=int(time.time()) % 100000,
        date=time.strftime("%Y/%m/%d", now),
        stamp=time.strftime("%Y/%m/%d %H:%M:%S", now),
        mb=argv[2],
        cid=uuid.uuid4(),
        name="bench-%sMB.bin" % argv[2],
    )
    with open(out, "wb") as f:
        f.write(head.encode("utf-8"))
        left = total
        while left > 0:
            n = min(CHUNK, left)
            f.write(base64.encodebytes(os.urandom(n)))  # 76-character lines, each ending "\n"
            left -= n
        f.write(TAIL.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
