"""Facility classification by the rules of data/standards/facility_rules.toml: the errors seen on
real Chinese data, on OSM tags and Amap/Baidu type strings alike, normalisation, the labelled
corpus, the Helsinki sample end to end, scenario rule overrides and duplicate merging."""

from __future__ import annotations

import unicodedata
import warnings

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.classify import classify, type_levels
from planner.errors import InputError
from planner.evaluation import evaluate, predict, read_corpus
from planner.facilities import FacilityReport, FacilityWarning
from planner.io.facilities import facility_report, load_facilities
from planner.io.osm_facilities import classify_osm
from planner.io.tables import categorize
from planner.normalise import main_name, normalise
from planner.sample import helsinki_pbf
from planner.scenario_file import parse_scenario
from planner.standards import load_categories

TAIYUAN_UTM = "EPSG:32649"


@pytest.fixture(scope="module")
def cats():
    return load_categories()


@pytest.fixture(scope="module")
def corpus():
    return read_corpus()


def osm(cats, name: str | None, **tags: str) -> set[str]:
    """Categories of one OSM feature."""
    frame = pd.DataFrame([{"name": name, **{k.replace("__", ":"): v for k, v in tags.items()}}])
    matches, _ = classify_osm(frame.astype("string"), cats)
    return set(matches["category"])


def typed(cats, name: str, type_string: str) -> set[str]:
    """Categories of one Amap/Baidu record."""
    matches, _ = classify(cats, [name], types=[type_string])
    return set(matches["category"])


# --- the errors seen on real data, on OSM tags and on Amap/Baidu types ---------------------------


@pytest.mark.parametrize("name, tags, type_string", [
    ("山西省口腔医院", {"amenity": "hospital"}, "医疗保健服务;专科医院;口腔医院"),
    ("山西省中医院", {"amenity": "hospital"}, "医疗保健服务;综合医院;综合医院"),
    ("解放军第九八五医院", {"amenity": "hospital", "healthcare": "hospital"}, "医疗;综合医院"),
    ("太原市中心医院", {"amenity": "hospital"}, "医疗保健服务;综合医院;三级甲等医院"),
    ("迎泽区妇幼保健所", {"amenity": "clinic"}, "医疗保健服务;专科医院;专科医院"),
    ("太原市疾控中心", {"amenity": "clinic", "healthcare": "centre"}, "医疗保健服务;疾病预防机构;疾病预防"),
])
def test_hospitals_and_public_health_are_no_community_health_service(cats, name, tags, type_string):
    assert not osm(cats, name, **tags) & {"clinic", "health_centre"}
    assert not typed(cats, name, type_string) & {"clinic", "health_centre"}


def test_community_health_services_inside_hospitals_still_count(cats):
    assert osm(cats, "府东街道社区卫生服务中心", amenity="hospital") == {"health_centre"}
    assert typed(cats, "省人民医院杏花岭社区卫生服务站", "医疗保健服务;综合医院;综合医院") == {"clinic"}
    assert typed(cats, "金胜镇卫生院", "医疗保健服务;综合医院;卫生院") == {"health_centre"}


@pytest.mark.parametrize("name, shop, type_string", [
    ("苏宁电器", "supermarket", "购物服务;家电电子卖场;苏宁"),
    ("国美电器", "supermarket", "购物服务;家电电子卖场;国美"),
    ("王府井百货", "department_store", "购物服务;商场;普通商场"),
    ("铜锣湾商城", "supermarket", "购物服务;商场;普通商场"),
    ("万达广场", "mall", "购物服务;商场;购物中心"),
])
def test_department_stores_malls_and_electronics_are_no_supermarkets(cats, name, shop, type_string):
    assert "supermarket" not in osm(cats, name, shop=shop)
    assert "supermarket" not in typed(cats, name, type_string)


def test_walmart_supercentre_named_shopping_plaza_is_a_supermarket(cats):
    assert typed(cats, "沃尔玛购物广场(龙湖店)", "购物服务;超级市场;沃尔玛") == {"supermarket"}


@pytest.mark.parametrize("name", ["捷安特自行车", "永久单车行", "小牛电动车"])
def test_bike_shops_tagged_convenience_are_no_convenience_stores(cats, name):
    assert osm(cats, name, shop="convenience") == set()
    assert typed(cats, name, "购物服务;便民商店/便利店;便民商店/便利店") == set()


def test_a_supermarket_is_a_fresh_market_only_with_fresh_food_evidence(cats):
    assert osm(cats, "美特好超市", shop="supermarket") == {"supermarket"}
    assert typed(cats, "美特好超市", "购物服务;超级市场;超市") == {"supermarket"}
    assert osm(cats, "家和生鲜超市", shop="supermarket") == {"fresh_market"}
    assert typed(cats, "谊品生鲜", "购物服务;超级市场;超市") == {"fresh_market"}
    assert osm(cats, "Hakaniemen Lihakauppa", shop="butcher") == set()
    assert osm(cats, "田园蔬菜", shop="greengrocer") == {"fresh_market"}


def test_breakfast_from_chains_dishes_and_early_hours(cats):
    assert osm(cats, "永和大王", amenity="fast_food") == {"breakfast"}
    assert typed(cats, "永和大王(柳巷店)", "餐饮服务;快餐厅;快餐厅") == {"breakfast"}
    for name in ("煎餅果子", "餛飩鋪", "豆漿油條"):  # traditional characters
        assert osm(cats, name, amenity="restaurant") == {"breakfast"}
        assert typed(cats, name, "美食;小吃快餐店") == {"breakfast"}
    assert osm(cats, "小吃店", amenity="fast_food", opening_hours="Mo-Su 06:00-13:00") == {"breakfast"}
    assert osm(cats, "Grilli", amenity="fast_food", opening_hours="Mo-Su 20:00-05:00") == set()


@pytest.mark.parametrize("name, cuisine", [("Ramen Bar", "ramen"), ("兰州拉面", "noodle"),
                                           ("饺子馆", "dumpling"), ("味千拉面", None)])
def test_noodle_and_ramen_restaurants_are_no_breakfast_without_evidence(cats, name, cuisine):
    tags = {"amenity": "restaurant"} | ({"cuisine": cuisine} if cuisine else {})
    assert osm(cats, name, **tags) == set()
    assert typed(cats, name, "餐饮服务;外国餐厅;日本料理") == set()


def test_junior_campus_nine_year_and_senior_schools(cats):
    assert osm(cats, "太原市第五中学初三年级校区", amenity="school") == {"middle_school"}
    assert typed(cats, "进山中学初三年级校区", "科教文化服务;学校;中学") == {"middle_school"}
    assert typed(cats, "实验九年一贯制学校", "科教文化服务;学校;学校") == {"primary_school", "middle_school"}
    assert osm(cats, "太原市第十二高级中学", amenity="school") == set()
    assert typed(cats, "太原市第五十六中学高中部", "科教文化服务;学校;中学") == set()
    assert typed(cats, "太原市财贸职业中学", "科教文化服务;学校;职业技术学校") == set()
    assert typed(cats, "学而思培优", "教育培训;培训机构") == set()
    # a branch suffix naming a school does not make a café one
    assert typed(cats, "瑞幸咖啡(太原五中店)", "餐饮服务;咖啡厅;咖啡厅") == set()


def test_childcare_kindergarten_pharmacy_and_elderly_care(cats):
    assert osm(cats, "童乐托育园", amenity="kindergarten") == {"childcare"}  # the name wins
    assert typed(cats, "金宝贝早教中心", "科教文化服务;培训机构;培训机构") == set()
    assert typed(cats, "阳光幼儿园", "科教文化服务;学校;幼儿园") == {"kindergarten"}
    assert typed(cats, "山西医药有限公司", "公司企业;公司;医药公司") == set()
    assert typed(cats, "华康药业连锁第十二药店", "医疗;药店") == {"pharmacy"}
    assert typed(cats, "柳巷社区日间照料中心", "生活服务;生活服务场所;生活服务场所") == {"elderly_day_care"}
    assert typed(cats, "中国人寿养老保险", "金融保险服务;保险公司;中国人寿") == set()
    assert typed(cats, "颐和养老服务有限公司桃园社区日间照料中心", "") == {"elderly_day_care"}
    assert osm(cats, "唐久", shop="yes") == {"convenience"}  # Shanxi chain by brand


@pytest.mark.parametrize("name", ["鼓楼区华林街长者服务站", "越秀区北京街颐康服务站", "海曙区南门街道颐康中心",
                                  "江北区老年人照料中心", "南岗区花园街道老年服务驿站", "长者照料之家"])
def test_older_people_service_outlets_are_day_care(cats, name):
    assert typed(cats, name, "生活服务;生活服务场所;生活服务场所") == {"elderly_day_care"}
    assert typed(cats, name, "政府机构;福利机构") == {"elderly_day_care"}


@pytest.mark.parametrize("name", ["鼓楼区长者饭堂", "南岗区老年活动中心", "宁波老年大学", "海曙区长者助餐点"])
def test_meals_activities_and_schools_for_older_people_are_no_day_care(cats, name):
    assert typed(cats, name, "生活服务;生活服务场所;生活服务场所") == set()
    assert osm(cats, name, amenity="social_facility", social_facility__for="senior") == set()


def test_a_bare_senior_social_facility_is_day_care_unless_another_kind(cats):
    assert osm(cats, "荔湾区逢源街服务点", amenity="social_facility", social_facility__for="elderly") == {"elderly_day_care"}
    assert osm(cats, None, amenity="social_facility", social_facility__for="senior") == {"elderly_day_care"}
    assert osm(cats, None, amenity="social_facility", social_facility="nursing_home",
               social_facility__for="senior") == {"elderly_home"}
    assert osm(cats, None, amenity="social_facility", social_facility="soup_kitchen",
               social_facility__for="senior") == set()
    assert osm(cats, "福寿养老院", amenity="social_facility", social_facility__for="senior") == {"elderly_home"}


@pytest.mark.parametrize("name", ["佛山市老人院", "香港九龙安老院", "南京仙林颐养院"])
def test_old_peoples_homes_by_any_name(cats, name):
    assert typed(cats, name, "生活服务;生活服务场所;生活服务场所") == {"elderly_home"}
    assert osm(cats, name, amenity="social_facility", social_facility__for="senior") == {"elderly_home"}


@pytest.mark.parametrize("name, type_string", [
    ("舟山国际水产城海鲜批发市场", "购物服务;综合市场;水产海鲜市场"),
    ("舟山国际水产城海鲜批发市场", "购物服务;综合市场;综合市场"),
    ("长沙马王堆蔬菜批发市场", "购物服务;综合市场;蔬菜市场"),
    ("郑州万邦农副产品批发市场", "购物服务;综合市场;农副产品市场"),
    ("合肥周谷堆农产品批发市场", "购物;市场"),
])
def test_wholesale_markets_are_no_fresh_markets_whatever_the_type(cats, name, type_string):
    assert typed(cats, name, type_string) == set()
    assert osm(cats, name, amenity="marketplace") == set()


def test_any_wholesale_tag_vetoes_every_retail_category(cats):
    assert osm(cats, "南郊农产品市场", amenity="marketplace", wholesale="agricultural_products") == set()
    assert osm(cats, "南郊农产品市场", amenity="marketplace", wholesale="no") == {"fresh_market"}
    assert osm(cats, "兴旺超市", shop="supermarket", wholesale="yes") == set()
    assert osm(cats, "惠民药房", amenity="pharmacy", wholesale="pharmaceuticals") == set()
    assert typed(cats, "惠民便利店批发部", "购物服务;便民商店/便利店;便民商店/便利店") == set()
    assert typed(cats, "利群超市批发部", "购物服务;超级市场;超市") == set()


@pytest.mark.parametrize("name", ["荣耀授权体验店", "OPPO专卖店", "vivo体验店", "中国联通营业厅", "中国电信营业厅",
                                  "小米之家", "华为授权服务中心", "苹果手机维修"])
def test_phone_and_telecom_shops_tagged_convenience_are_no_convenience_stores(cats, name):
    assert osm(cats, name, shop="convenience") == set()
    assert typed(cats, name, "购物服务;便民商店/便利店;便民商店/便利店") == set()


def test_convenience_stores_near_phone_words_stay_convenience_stores(cats):
    assert osm(cats, "荣华便利店", shop="convenience") == {"convenience"}
    assert osm(cats, "小米粥铺", amenity="fast_food") == {"breakfast"}
    assert osm(cats, "红苹果小卖部", shop="convenience") == {"convenience"}


def test_a_shop_is_a_convenience_store_or_a_supermarket_never_both(cats):
    # a convenience brand with 超市 in the name: the type string, then the shop tag, then the name
    assert typed(cats, "红旗连锁超市(青羊店)", "购物;超市") == {"supermarket"}
    assert typed(cats, "红旗连锁超市(青羊店)", "购物服务;超级市场;超市") == {"supermarket"}
    assert typed(cats, "红旗连锁超市(青羊店)", "购物;便利店") == {"convenience"}
    assert osm(cats, "红旗连锁超市", shop="convenience") == {"convenience"}
    assert osm(cats, "红旗连锁超市", shop="supermarket") == {"supermarket"}
    matches, _ = classify(cats, ["红旗连锁超市"])
    assert matches[["category", "rule"]].values.tolist() == [
        ["supermarket", "name keyword 超市 (over convenience: name keyword)"]]
    # size words decide before the type or tag
    assert typed(cats, "红旗连锁便民超市", "购物;超市") == {"convenience"}
    assert osm(cats, "红旗连锁大型超市", shop="convenience") == {"supermarket"}  # the name says large
    assert typed(cats, "红旗连锁量贩店", "购物;超市") == {"supermarket"}
    # a brand alone keeps its category
    assert typed(cats, "红旗连锁(青羊店)", "") == {"convenience"}
    # Amap types supermarket-like shops "购物服务;超级市场;超市": a type name, not a size word
    assert typed(cats, "可的(漕溪路店)", "购物服务;超级市场;超市") == {"convenience"}
    # a chain running both formats: the mapper's shop tag says which this one is
    assert osm(cats, "家乐福", shop="convenience") == {"convenience"}
    assert osm(cats, "永辉超市", shop="convenience") == {"convenience"}
    assert osm(cats, "永辉购物广场", shop="convenience") == {"supermarket"}


def test_day_care_synonyms_and_phone_chains(cats):
    assert typed(cats, "闵行区江川路街道老年人日间照护中心", "生活服务;生活服务场所;生活服务场所") == {"elderly_day_care"}
    assert typed(cats, "普陀区长风街道长者照护之家", "生活服务;生活服务场所;生活服务场所") == {"elderly_home"}
    assert osm(cats, "乐语通讯", shop="convenience") == set()
    assert osm(cats, "迪信通(人民路店)", shop="convenience") == set()


def test_every_decision_names_its_rule(cats):
    tags = pd.DataFrame({"name": ["阳光幼儿园", None, "美奥口腔诊所", "Bench"],
                         "amenity": ["kindergarten", "kindergarten", "clinic", "bench"]})
    matches, unmatched = classify_osm(tags.astype("string"), cats)
    assert matches["rule"].tolist() == ["name keyword 幼儿园", "tag amenity=kindergarten"]
    refused = unmatched.set_index("row")
    assert refused.loc[2, "excluded"] and refused.loc[2, "rule"].startswith("clinic excluded: name 口腔 (")
    assert not refused.loc[3, "excluded"] and refused.loc[3, "rule"] == "no rule matched"
    _, none = classify(cats, ["迎泽公园"], types=["风景名胜;公园广场;公园"])
    assert none["rule"].tolist() == ["no rule matched"]


def test_table_rows_carry_rule_and_ref_and_report_the_rest(cats):
    fac = gpd.GeoDataFrame(
        {"ref": ["line 2", "line 3", "line 4", "line 5"], "name": ["A", "阳光幼儿园", "苏宁电器", "面馆"],
         "id": pd.NA, "source": "t"},
        geometry=gpd.points_from_xy([112.55] * 4, [37.87] * 4), crs=4326)
    text = pd.Series(["pharmacy", "科教文化服务;学校;幼儿园", "购物服务;超级市场;超市", "餐饮服务;中餐厅;中餐厅"])
    report = FacilityReport(source="t")
    out = categorize(fac, text, set(cats), cats, report)
    assert out[["ref", "category", "rule"]].values.tolist() == [
        ["line 2", "pharmacy", "category column key pharmacy"],
        ["line 3", "kindergarten", "name keyword 幼儿园"]]
    dropped = report.dropped.set_index("ref")
    assert dropped.loc["line 4", "reason"] == "not a living-circle category"
    assert dropped.loc["line 4", "detail"].startswith("supermarket excluded: name 苏宁")
    assert dropped.loc["line 5", ["reason", "detail"]].tolist() == ["no category", "no rule matched"]


# --- normalisation -------------------------------------------------------------------------------


def test_normalise_and_type_levels():
    assert normalise("  煎餅　果子  ") == "煎饼 果子"
    assert normalise("ＦａｍｉｌｙＭａｒｔ（五一店）") == "familymart(五一店)"
    assert normalise(None) == "" and normalise(float("nan")) == "" and normalise(pd.NA) == ""
    assert main_name("唐久便利店（五一路店）") == "唐久便利店"
    assert main_name("太原五中（初中部）") == "太原五中(初中部)"
    assert type_levels("教育培训;中学") == "中学"
    assert type_levels("科教文化服务;学校;中学|餐饮服务;快餐厅;快餐厅") == "学校;中学|快餐厅;快餐厅"
    assert type_levels("幼儿园") == "幼儿园"


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.data())
def test_full_width_and_spacing_never_change_a_category(cats, corpus, data):
    i = data.draw(st.integers(0, len(corpus) - 1))
    rec = corpus.iloc[[i]]
    variant = rec.assign(name=[" " + _full_width(rec["name"].iloc[0]).upper() + "  "])
    assert predict(variant, cats).iloc[0] == predict(rec, cats).iloc[0]


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=0, max_size=20))
def test_normalise_is_idempotent(text):
    once = normalise(text)
    assert normalise(once) == once
    assert once == unicodedata.normalize("NFKC", once)


# --- the labelled corpus ---------------------------------------------------------------------------


def test_corpus_covers_every_category_and_source(cats, corpus):
    assert len(corpus) >= 400
    assert set(corpus["source"]) == {"osm", "amap", "baidu"}
    for key in cats:
        assert corpus["expected"].map(lambda s, k=key: k in s).sum() >= 10, key
    assert (corpus["expected"].map(len) == 0).sum() >= 150  # look-alikes and other places
    plain = corpus["name"].map(lambda n: " ".join(unicodedata.normalize("NFKC", n).casefold().split()))
    traditional = corpus["name"].map(normalise) != plain  # changed by the t2s conversion
    full_width = corpus["name"] != corpus["name"].map(lambda n: unicodedata.normalize("NFKC", n))
    assert traditional.sum() >= 15 and full_width.sum() >= 1


def test_corpus_precision_and_recall_floor(cats, corpus):
    table, wrong = evaluate(corpus, cats)
    low = table[(table["precision"] < 0.97) | (table["recall"] < 0.95)]
    assert low.empty, (low.to_string(), wrong.to_string())


# --- scenario overrides ------------------------------------------------------------------------


def test_scenario_extends_and_vetoes_rules(tmp_path, cats):
    doc = {"network": {"source": "x.osm"}, "categories": {
        "pharmacy": {"names": ["草堂"], "exclude": [{"names": ["大参林"], "why": "closed chain"}]},
    }}
    scenario = parse_scenario(doc, tmp_path)
    more = load_categories(overrides=scenario.categories)
    assert typed(more, "济生草堂", "") == {"pharmacy"} and typed(cats, "济生草堂", "") == set()
    assert typed(more, "大参林(亲贤店)", "医疗;药店") == set()
    with pytest.raises(InputError, match="did you mean 'names'"):
        load_categories(overrides={"pharmacy": {"keywords": ["草堂"]}})


# --- end to end ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helsinki():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacilityWarning)
        return load_facilities(helsinki_pbf())


def test_helsinki_sample_look_alikes(helsinki):
    names = {k: set(g.dropna()) for k, g in helsinki.groupby("category")["name"]}
    assert "Momotoko" not in names["breakfast"]  # a ramen bar (cuisine=noodle;japanese)
    assert "Kanniston leipomo" not in names["breakfast"]  # a bakery alone is no breakfast shop
    assert "McDonald's" in names["breakfast"]  # opens at 07:00
    assert "Hypnoosi- ja luontaisterapeuttia Anneli Rusanen" not in names.get("clinic", set())
    assert "Dextra" not in names.get("clinic", set())  # plastic surgery
    assert "Hakaniemen Lihakauppa" not in names.get("fresh_market", set())  # a butcher
    assert names["fresh_market"] == {"Vanha Kauppahalli"}  # the market hall
    dropped = facility_report(helsinki).dropped
    refused = dropped[dropped["reason"] == "not a living-circle category"]
    assert {"Dextra", "Hypnoosi- ja luontaisterapeuttia Anneli Rusanen"} <= set(refused["name"])
    assert dropped["detail"].notna().all() and (dropped["ref"].str.contains("/")).all()


def test_distinct_shops_ten_metres_apart_are_both_kept(tmp_path):
    # two shops 10 m apart (0.000114° of latitude ≈ 12.7 m here) and one mapped twice
    frame = pd.DataFrame({
        "name": ["唐久便利店", "美宜佳", "美宜佳"], "category": ["convenience"] * 3,
        "lon": [112.55, 112.55, 112.55001], "lat": [37.87, 37.87009, 37.87009],
    })
    frame.to_csv(tmp_path / "shops.csv", index=False)
    fac = load_facilities(tmp_path / "shops.csv", crs="wgs84", to_crs=TAIYUAN_UTM, dedupe_m=15)
    assert sorted(fac["name"]) == ["唐久便利店", "美宜佳"]
    detail = facility_report(fac).dropped["detail"].tolist()
    assert len(detail) == 1 and detail[0].startswith("duplicate of line 3 '美宜佳' at 0.9 m")


def test_community_elderly_stations_are_day_care():
    import pandas as pd

    from planner.io.facilities import load_facilities

    table = pd.DataFrame({"名称": ["郝庄养老驿站", "坞城街道为老驿站", "长者驿站(南站店)"],
                          "类型": ["生活服务;养老服务"] * 3, "经度": [112.58, 112.59, 112.60],
                          "纬度": [37.85, 37.86, 37.87]})
    fac = load_facilities(table, crs="gcj02")
    assert fac["category"].tolist() == ["elderly_day_care"] * 3
