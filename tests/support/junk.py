"""Hypothesis junk for configuration loaders: random YAML-able values, and a valid document spoiled with them."""

from __future__ import annotations

from hypothesis import strategies as st


def junk(*words: str) -> st.SearchStrategy:
    """Returns nested junk: None, booleans, huge integers, floats (NaN, inf), short text and ``words`` the loader
    knows (so some junk is almost valid), in lists and mappings with text or integer keys."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=8),
                       st.sampled_from(words or ("-1",)))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=3)), max_leaves=8)


def spoil(data, tree, junk_values: st.SearchStrategy, *, depth_limit: int = 5, depth: int = 0):
    """Returns ``tree`` with junk put at a random place (replacing a value, adding a key, replacing a list item)."""
    if isinstance(tree, dict) and tree and depth < depth_limit:
        key = data.draw(st.sampled_from(sorted(tree, key=str) + ["junk-key"]))
        if key in tree and data.draw(st.booleans()):
            return {**tree, key: spoil(data, tree[key], junk_values, depth_limit=depth_limit, depth=depth + 1)}
        return {**tree, key: data.draw(junk_values)}
    if isinstance(tree, list) and tree and depth < depth_limit:
        i = data.draw(st.integers(0, len(tree) - 1))
        return [*tree[:i], spoil(data, tree[i], junk_values, depth_limit=depth_limit, depth=depth + 1), *tree[i + 1:]]
    return data.draw(junk_values)
