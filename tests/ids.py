"""Valid test ID numbers (GB 11643 check digit computed by python-stdnum)."""
from stdnum.cn import ric


def id_number(birth: str = "19900101", seq: int = 123, region: str = "110105") -> str:
    body = f"{region}{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")  # it ignores the last character
