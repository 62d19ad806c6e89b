"""Prints tests/vectors/hashes.json as tab-separated lines for tests that cannot read JSON
(the C test): name, input as hex, blake3 hex, xxh3_64 hex."""
import json
import pathlib

vectors = json.loads((pathlib.Path(__file__).parent.parent / "vectors" / "hashes.json").read_text())
for v in vectors["vectors"]:
    if "utf8" in v:
        data = v["utf8"].encode()
    else:
        assert v["generate"]["pattern"] == "byte i = i % 251"
        data = bytes(i % 251 for i in range(v["generate"]["length"]))
    print(f'{v["name"]}\t{data.hex()}\t{v["blake3"]}\t{v["xxh3_64"]}')
