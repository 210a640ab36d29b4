"""Countries, states, cities, postal and mobile formats: the valid places of a customer."""

from __future__ import annotations

COUNTRY_CODES: dict[str, str] = {
    "India": "+91",
    "Norway": "+47",
    "Australia": "+61",
    "Brazil": "+55",
    "United States": "+1",
    "France": "+33",
    "Germany": "+49",
    "Spain": "+34",
    "Indonesia": "+62",
    "Canada": "+1",
    "Singapore": "+65",
    "Netherlands": "+31",
    "Italy": "+39",
}
COUNTRIES = tuple(sorted(COUNTRY_CODES))

# (city, state, pin, country) per nationality, as in the seed.
CITIES_BY_NATIONALITY: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "Australian": (
        ("Sydney", "New South Wales", "2000", "Australia"),
        ("Melbourne", "Victoria", "3000", "Australia"),
        ("Brisbane", "Queensland", "4000", "Australia"),
        ("Perth", "Western Australia", "6000", "Australia"),
        ("Adelaide", "South Australia", "5000", "Australia"),
    ),
    "Brazilian": (
        ("Rio de Janeiro", "Rio de Janeiro", "20000", "Brazil"),
        ("Sao Paulo", "Sao Paulo", "01000", "Brazil"),
        ("Brasília", "Federal District", "70000", "Brazil"),
        ("Salvador", "Bahia", "40000", "Brazil"),
        ("Fortaleza", "Ceará", "60000", "Brazil"),
    ),
    "American": (
        ("New York City", "New York", "10001", "United States"),
        ("Los Angeles", "California", "90001", "United States"),
        ("Chicago", "Illinois", "60601", "United States"),
        ("Houston", "Texas", "77001", "United States"),
        ("Miami", "Florida", "33101", "United States"),
    ),
    "Canadian": (
        ("Toronto", "Ontario", "M5V 1J9", "Canada"),
        ("Vancouver", "British Columbia", "V6B 1E2", "Canada"),
        ("Montreal", "Quebec", "H2X 1J1", "Canada"),
        ("Calgary", "Alberta", "T2P 0R5", "Canada"),
        ("Ottawa", "Ontario", "K1P 1J1", "Canada"),
    ),
    "European": (
        ("Paris", "Île-de-France", "75001", "France"),
        ("Rome", "Lazio", "00100", "Italy"),
        ("Madrid", "Madrid", "28001", "Spain"),
        ("Berlin", "Berlin", "10115", "Germany"),
        ("Amsterdam", "North Holland", "1012 JS", "Netherlands"),
    ),
    "Indonesian": (
        ("Jakarta", "Jakarta", "10110", "Indonesia"),
        ("Surabaya", "East Java", "60111", "Indonesia"),
        ("Bandung", "West Java", "40111", "Indonesia"),
        ("Medan", "North Sumatra", "20111", "Indonesia"),
        ("Makassar", "South Sulawesi", "90111", "Indonesia"),
    ),
    "Norwegian": (
        ("Oslo", "Oslo", "0010", "Norway"),
        ("Bergen", "Vestland", "5015", "Norway"),
        ("Trondheim", "Trondelag", "7010", "Norway"),
        ("Stavanger", "Rogaland", "4006", "Norway"),
        ("Tromsø", "Troms og Finnmark", "9008", "Norway"),
    ),
    "Singaporean": (
        ("Singapore", "Singapore", "049317", "Singapore"),
        ("Bedok", "Singapore", "469001", "Singapore"),
        ("Jurong East", "Singapore", "609731", "Singapore"),
        ("Tampines", "Singapore", "529653", "Singapore"),
        ("Woodlands", "Singapore", "738099", "Singapore"),
    ),
    "Indian": (
        ("Mumbai", "Maharashtra", "400001", "India"),
        ("Delhi", "Delhi", "110001", "India"),
        ("Bangalore", "Karnataka", "560001", "India"),
        ("Kolkata", "West Bengal", "700001", "India"),
        ("Chennai", "Tamil Nadu", "600001", "India"),
        ("Hyderabad", "Telangana", "500001", "India"),
        ("Pune", "Maharashtra", "411001", "India"),
        ("Chandigarh", "Chandigarh", "160001", "India"),
        ("Jaipur", "Rajasthan", "302001", "India"),
        ("Ahmedabad", "Gujarat", "380001", "India"),
        ("Kochi", "Kerala", "682001", "India"),
        ("Lucknow", "Uttar Pradesh", "226001", "India"),
        ("Bhopal", "Madhya Pradesh", "462001", "India"),
        ("Patna", "Bihar", "800001", "India"),
        ("Coimbatore", "Tamil Nadu", "641001", "India"),
    ),
}
RESIDENT_CATEGORY = "Resident Indian"
RESIDENT_NATIONALITY = "Indian"


def country_state_pairs() -> tuple[tuple[str, str], ...]:
    """The valid (country, state) pairs, sorted; the partitions of the regional layout."""
    pairs = {(c, s) for rows in CITIES_BY_NATIONALITY.values() for (_, s, _, c) in rows}
    return tuple(sorted(pairs))


def country_state_city_triples() -> tuple[tuple[str, str, str], ...]:
    """The valid (country, state, city) places of the model, sorted."""
    rows = CITIES_BY_NATIONALITY.values()
    return tuple(sorted({(c, s, city) for places in rows for (city, s, _, c) in places}))


STATES = tuple(sorted({s for _, s in country_state_pairs()}))
CITIES = tuple(sorted({c for rows in CITIES_BY_NATIONALITY.values() for (c, _, _, _) in rows}))

# Postal code format per country: the shape of the pins above (digits and length; Canada
# and the Netherlands use letters too). `pin__country_format` applies it.
PIN_FORMAT_BY_COUNTRY: dict[str, str] = {
    "Australia": r"^[0-9]{4}$",
    "Brazil": r"^[0-9]{5}$",
    "Canada": r"^[A-Z][0-9][A-Z] [0-9][A-Z][0-9]$",
    "France": r"^[0-9]{5}$",
    "Germany": r"^[0-9]{5}$",
    "India": r"^[0-9]{6}$",
    "Indonesia": r"^[0-9]{5}$",
    "Italy": r"^[0-9]{5}$",
    "Netherlands": r"^[0-9]{4} [A-Z]{2}$",
    "Norway": r"^[0-9]{4}$",
    "Singapore": r"^[0-9]{6}$",
    "Spain": r"^[0-9]{5}$",
    "United States": r"^[0-9]{5}$",
}
# Mobile numbers: ten digits starting 6-9, the generator's MOBILE_RANGE, in every country
# (the seed draws them from one Indian-style range). Per country, so a country with another
# plan changes one entry; `mobile_number1__country_format` applies it.
MOBILE_RANGE = (6_000_000_000, 9_999_999_999)
MOBILE_FORMAT_BY_COUNTRY: dict[str, str] = dict.fromkeys(COUNTRIES, r"^[6-9][0-9]{9}$")
