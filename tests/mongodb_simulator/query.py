"""Document matching, sorting, projection and update operators of the apiplatform.ha replica-set simulator.

Only the subset the collection's modules and the reference app use: equality and $gt/$gte/$lt/$lte/$ne/$in/$nin/
$exists on (dotted) fields, $and/$or, sort, inclusion/exclusion projection, $set/$unset/$inc/$setOnInsert/$push.
This is a simulator, not MongoDB's query engine.
"""

import copy
import datetime

import bson

_MISSING = object()


class QueryError(Exception):
    def __init__(self, code, code_name, message):
        super().__init__(message)
        self.code = code
        self.code_name = code_name


def get_path(doc, path):
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def _type_rank(v):
    if v is None or v is _MISSING:
        return 1
    if isinstance(v, bool):
        return 8
    if isinstance(v, int | float):
        return 3
    if isinstance(v, str):
        return 4
    if isinstance(v, dict):
        return 5
    if isinstance(v, list):
        return 6
    if isinstance(v, bytes):
        return 7
    if isinstance(v, bson.ObjectId):
        return 7.5
    if isinstance(v, datetime.datetime):
        return 9
    if isinstance(v, bson.Timestamp):
        return 10
    return 11


def _sort_key(v):
    if isinstance(v, datetime.datetime) and v.tzinfo is None:
        v = v.replace(tzinfo=datetime.UTC)
    if isinstance(v, bson.Timestamp):
        return (v.time, v.inc)
    if isinstance(v, dict):
        return str(sorted(v.items(), key=lambda kv: kv[0]))
    if isinstance(v, list):
        return str(v)
    if v is None or v is _MISSING:
        return 0
    return v


def compare(a, b):
    ra, rb = _type_rank(a), _type_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    ka, kb = _sort_key(a), _sort_key(b)
    try:
        return (ka > kb) - (ka < kb)
    except TypeError:
        sa, sb = str(ka), str(kb)
        return (sa > sb) - (sa < sb)


def _eq(value, target):
    if value is _MISSING:
        return target is None
    if isinstance(value, list) and not isinstance(target, list):
        return any(_eq(v, target) for v in value)
    return _type_rank(value) == _type_rank(target) and compare(value, target) == 0


def _cmp_op(value, target, op):
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v is _MISSING or _type_rank(v) != _type_rank(target):
            continue
        c = compare(v, target)
        if (op == "$gt" and c > 0) or (op == "$gte" and c >= 0) or (op == "$lt" and c < 0) or (op == "$lte" and c <= 0):
            return True
    return False


def _match_cond(value, cond):
    if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
        for op, target in cond.items():
            if op in ("$gt", "$gte", "$lt", "$lte"):
                if not _cmp_op(value, target, op):
                    return False
            elif op == "$eq":
                if not _eq(value, target):
                    return False
            elif op == "$ne":
                if _eq(value, target):
                    return False
            elif op == "$in":
                if not any(_eq(value, t) for t in target):
                    return False
            elif op == "$nin":
                if any(_eq(value, t) for t in target):
                    return False
            elif op == "$exists":
                if (value is not _MISSING) != bool(target):
                    return False
            elif op == "$not":
                if _match_cond(value, target):
                    return False
            else:
                raise QueryError(
                    2, "BadValue", f"unknown operator: {op} (not implemented by the replica-set simulator)"
                )
        return True
    return _eq(value, cond)


def matches(doc, flt):
    for key, cond in (flt or {}).items():
        if key == "$and":
            if not all(matches(doc, f) for f in cond):
                return False
        elif key == "$or":
            if not any(matches(doc, f) for f in cond):
                return False
        elif key == "$nor":
            if any(matches(doc, f) for f in cond):
                return False
        elif key.startswith("$"):
            raise QueryError(2, "BadValue", f"unknown top level operator: {key}")
        elif not _match_cond(get_path(doc, key), cond):
            return False
    return True


def sort_docs(docs, sort):
    docs = list(docs)
    for key, direction in reversed(list((sort or {}).items())):
        if key == "$natural":
            if direction == -1:
                docs.reverse()
            continue
        docs.sort(
            key=_CmpKey.factory(key),
            reverse=direction == -1,
        )
    return docs


class _CmpKey:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return compare(self.v, other.v) < 0

    @staticmethod
    def factory(key):
        return lambda d: _CmpKey(get_path(d, key))


def project(doc, projection):
    if not projection:
        return doc
    include = {k for k, v in projection.items() if v and k != "_id"}
    if include:
        out = {}
        if projection.get("_id", 1) and "_id" in doc:
            out["_id"] = doc["_id"]
        for k in include:
            v = get_path(doc, k)
            if v is not _MISSING:
                _set_path(out, k, v)
        return out
    out = copy.deepcopy(doc)
    for k, v in projection.items():
        if not v:
            _unset_path(out, k)
    return out


def _set_path(doc, path, value):
    parts = path.split(".")
    cur = doc
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value


def _unset_path(doc, path):
    parts = path.split(".")
    cur = doc
    for part in parts[:-1]:
        cur = cur.get(part)
        if not isinstance(cur, dict):
            return
    cur.pop(parts[-1], None)


def is_operator_update(update):
    return isinstance(update, dict) and bool(update) and all(k.startswith("$") for k in update)


def apply_update(doc, update, inserting=False):
    """Return the updated copy of doc (operators or replacement)."""
    if isinstance(update, list):
        raise QueryError(2, "BadValue", "pipeline updates are not implemented by the replica-set simulator")
    if not is_operator_update(update):
        new = copy.deepcopy(update)
        if "_id" in doc:
            new["_id"] = doc["_id"]
        return new
    new = copy.deepcopy(doc)
    for op, fields in update.items():
        for path, value in fields.items():
            if op == "$set" or (op == "$setOnInsert" and inserting):
                _set_path(new, path, copy.deepcopy(value))
            elif op == "$setOnInsert":
                pass
            elif op == "$unset":
                _unset_path(new, path)
            elif op == "$inc":
                cur = get_path(new, path)
                _set_path(new, path, (0 if cur is _MISSING else cur) + value)
            elif op == "$push":
                cur = get_path(new, path)
                lst = [] if cur is _MISSING else list(cur)
                if isinstance(value, dict) and "$each" in value:
                    lst.extend(value["$each"])
                else:
                    lst.append(value)
                _set_path(new, path, lst)
            elif op == "$currentDate":
                _set_path(new, path, datetime.datetime.now(datetime.UTC))
            else:
                raise QueryError(
                    9, "FailedToParse", f"Unknown modifier: {op} (not implemented by the replica-set simulator)"
                )
    return new


def upsert_seed(flt):
    """Equality fields of a filter, the base document of an upsert."""
    seed = {}
    for key, cond in (flt or {}).items():
        if key.startswith("$"):
            continue
        if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
            if "$eq" in cond:
                _set_path(seed, key, copy.deepcopy(cond["$eq"]))
            continue
        _set_path(seed, key, copy.deepcopy(cond))
    return seed
