"""Fuzz target: the EDN reader (RELIABILITY B-01). Only EdnSyntaxError/LimitExceeded may escape."""


from _common import instrumented, main

with instrumented():
    import fact_store as fs
    from fact_store.errors import EdnSyntaxError, LimitExceeded

DICTIONARY = [b"#inst ", b"#uuid ", b"#bytes ", b"#_", b"##NaN", b"##Inf", b"\\u", b"\\newline",
              b"1N", b"1.5M", b"#{", b"{", b"[", b"(", b"\"", b":a/b", b"nil", b"\\", b";"]


def test_one_input(data: bytes) -> None:
    # invalid UTF-8 becomes lone surrogates: hostile text the reader must handle
    text = data.decode("utf-8", errors="surrogateescape")
    try:
        v = fs.read_edn(text)
    except (EdnSyntaxError, LimitExceeded):
        return
    try:
        back = fs.read_edn(fs.write_edn(v))  # what is read can be written and read again
    except fs.EdnSyntaxError:
        return  # values the writer refuses (documented: e.g. a lone surrogate Char)
    assert type(back) is type(v)


if __name__ == "__main__":
    main(test_one_input, DICTIONARY)
