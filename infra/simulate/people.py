"""Fake applicants: names, company names, towns, resident ids and credit codes.

Records must name an applicant (docs/contracts.md §2) but a demo must never carry a
real person's data, so every identity here is drawn at random. Ids and codes still
carry valid check digits (GB 11643, GB 32100), so downstream format checks pass.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

__all__ = [
    "PERSON_ITEM_WORDS",
    "TOWNS",
    "fake_company_name",
    "fake_credit_code",
    "fake_person_id",
    "fake_person_name",
]

# fmt: off
#: Dongguan's towns, streets and parks (镇街园区): where an applicant lives or trades.
TOWNS: tuple[str, ...] = (
    "莞城街道", "南城街道", "东城街道", "万江街道", "石碣镇", "石龙镇", "茶山镇", "石排镇",
    "企石镇", "横沥镇", "桥头镇", "谢岗镇", "东坑镇", "常平镇", "寮步镇", "樟木头镇",
    "大朗镇", "黄江镇", "清溪镇", "塘厦镇", "凤岗镇", "大岭山镇", "长安镇", "虎门镇",
    "厚街镇", "沙田镇", "道滘镇", "洪梅镇", "麻涌镇", "望牛墩镇", "中堂镇", "高埗镇",
    "松山湖园区", "滨海湾新区", "东莞港",
)

_SURNAMES = (
    "陈李黄张梁刘叶林何罗钟郑谢邓蔡莫周吴杨徐朱胡袁卢曾王冯赵彭苏邱曹欧方温严"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国志浩宇婷"
    "欣怡俊杰嘉文子轩梓涵诗雨晓东海燕佳慧锦荣思颖家豪永康"
)
_BRANDS = (
    "华南", "鸿盛", "嘉诚", "粤兴", "东鹏", "宏达", "新纪元", "金丰", "恒昌", "力拓", "远航",
    "卓越", "联创", "汇丰源", "瑞祥", "南粤", "华信", "永利", "富华", "盛世", "启明", "锦绣",
    "长城", "海纳", "拓邦", "益康", "顺达", "宝龙", "天润", "美嘉",
)
_TRADES = (
    "电子科技", "五金制品", "餐饮管理", "贸易", "模具", "物流", "服装", "家具", "塑胶制品",
    "建材", "食品", "医药连锁", "印刷", "精密机械", "新材料", "文化传播", "建筑工程", "环保科技",
)

#: Words in the names of items that an individual (not an enterprise) applies for.
PERSON_ITEM_WORDS = (
    "户口", "身份证", "护照", "无犯罪", "就业", "社会保障卡", "失业", "出生", "教师", "转学",
    "结婚", "婚姻", "最低生活", "特困", "残疾", "异地就医", "门诊", "生育", "医师", "公共租赁",
)
# fmt: on

#: GB 11643 (resident id): weights of the 17 digits and the check character by sum % 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
#: GB 32100 (unified social credit code): its alphabet and weights, and the weights of
#: the embedded organisation code (GB 11714).
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
#: Dongguan's administrative division code.
_DONGGUAN = "441900"


def fake_person_id(rng: random.Random) -> str:
    """An 18-character resident ID number (居民身份证号) with a valid GB 11643 check digit."""
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 20_000))
    body = f"{_DONGGUAN}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    total = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


def fake_credit_code(rng: random.Random) -> str:
    """An 18-character unified social credit code (统一社会信用代码), GB 32100 checksums."""
    org = "".join(str(rng.randrange(10)) for _ in range(8))
    c9 = 11 - sum(int(c) * w for c, w in zip(org, _ORG_WEIGHTS, strict=True)) % 11
    org += "X" if c9 == 10 else ("0" if c9 == 11 else str(c9))
    body = "91" + _DONGGUAN + org
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


def fake_person_name(rng: random.Random) -> str:
    """A plausible Chinese personal name (surname + one or two given characters)."""
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(_SURNAMES) + given


def fake_company_name(rng: random.Random) -> str:
    """A plausible Dongguan company name."""
    return f"东莞市{rng.choice(_BRANDS)}{rng.choice(_TRADES)}有限公司"
