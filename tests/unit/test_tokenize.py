from model.tokenize import NewsTokenizer, clean, length_sorted_batches


def test_clean_strips_urls_and_entities() -> None:
    assert clean("Apple &amp; Google rally  https://t.co/abc123 now") == "Apple & Google rally now"


def test_truncation_keeps_title_and_start_of_body() -> None:
    tok = NewsTokenizer(max_tokens=16)
    (enc,) = tok.encode(["Title words here\n" + "body " * 500])
    assert len(enc.ids) == 16 and enc.ids[0] == 101 and enc.ids[-1] == 102  # [CLS] ... [SEP]


def test_length_sorted_batches_cover_every_index_once() -> None:
    lengths = [5, 3, 9, 3, 5, 5, 1]
    for exact in (False, True):
        batches = length_sorted_batches(lengths, 2, exact=exact)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        assert all(len(b) <= 2 for b in batches)
    exact_batches = length_sorted_batches(lengths, 2, exact=True)
    assert all(len({lengths[i] for i in b}) == 1 for b in exact_batches)  # never mixes lengths
