"""Structured data (schema.org JSON-LD) for search engines, from the clinic data file and the article."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for

from ..content import article_in, current_clinic
from ..content.article import Article, Source
from ..content.clinic import DAY_NAMES, Clinic, Hours, Office
from ..i18n import REGIONAL


def _opening_hours(hours: Hours) -> dict[str, Any]:
    return {
        "@type": "OpeningHoursSpecification",
        "dayOfWeek": [DAY_NAMES[d] for d in hours.days],
        "opens": hours.opens,
        "closes": hours.closes,
    }


def medical_clinic(office: Office, clinic: Clinic, site_url: str, lang: str = "en") -> dict[str, Any]:
    """One office as a MedicalClinic: the same name, address and phone the page shows."""
    url = site_url + url_for("pages.location", slug=office.slug, lang=lang)
    data: dict[str, Any] = {
        "@type": "MedicalClinic",
        "@id": f"{url}#clinic",
        "name": office.name,
        "url": url,
        "telephone": office.phone,
        "image": site_url + url_for("static", filename="share.png"),
        "address": {
            "@type": "PostalAddress",
            "streetAddress": office.street,
            "addressLocality": office.city,
            "addressRegion": office.region,
            "postalCode": office.postal_code,
            "addressCountry": "US",
        },
        "openingHoursSpecification": [_opening_hours(h) for h in office.hours],
        "parentOrganization": {
            "@type": "MedicalOrganization",
            "name": clinic.name,
            "url": site_url + url_for("pages.index", lang=lang),
        },
    }
    # Only what the clinic file says it practises: the article's subject (depression) says nothing of
    # whether its clinicians are psychiatrists, anesthesiologists or others.
    if clinic.specialties:
        data["medicalSpecialty"] = [f"https://schema.org/{name}" for name in clinic.specialties]
    if office.geo:
        data["geo"] = {
            "@type": "GeoCoordinates",
            "latitude": office.geo["latitude"],
            "longitude": office.geo["longitude"],
        }
    return data


def citation(source: Source) -> dict[str, Any]:
    """A source as schema.org sees it: a journal article with its DOI, or a document (a label, a notice)."""
    if source.journal:
        return {
            "@type": "ScholarlyArticle",
            "name": source.title,
            "author": source.authors,
            "datePublished": str(source.year),
            "isPartOf": {"@type": "Periodical", "name": source.journal},
            "sameAs": f"https://doi.org/{source.doi}",
        }
    return {
        "@type": "CreativeWork",
        "name": source.title,
        "author": source.authors,
        "datePublished": str(source.year),
    }


def medical_web_page(article: Article, clinic: Clinic, url: str, site_url: str) -> dict[str, Any]:
    """The article as a MedicalWebPage, citing its sources; reviewer only when the data file names one.

    The medical reviewer reviewed the English article; a translation says so (translationOfWork) and
    names its own reviewer only as a contributor, when the clinic file or its front matter gives one.
    """
    data: dict[str, Any] = {
        "@type": "MedicalWebPage",
        "@id": f"{url}#webpage",
        "url": url,
        "headline": article.title,
        "name": article.title,
        "description": article.description,
        "inLanguage": REGIONAL[article.language],
        "datePublished": article.published.isoformat(),
        "dateModified": article.updated.isoformat(),
        "about": {"@type": "MedicalCondition", "name": "Depression"},
        "audience": {"@type": "MedicalAudience", "audienceType": "Patient"},
        "publisher": {
            "@type": "MedicalOrganization",
            "name": clinic.name,
            "url": site_url + url_for("pages.index", lang=article.language),
        },
        "citation": [citation(s) for s in article.sources],
    }
    if clinic.reviewer and clinic.reviewed:
        data["reviewedBy"] = {"@type": "Person", "name": clinic.reviewer}
        if clinic.reviewer_license:
            data["reviewedBy"]["hasCredential"] = {
                "@type": "EducationalOccupationalCredential",
                "credentialCategory": clinic.reviewer_license,
            }
        data["lastReviewed"] = clinic.reviewed.isoformat()
    if article.language != "en":
        data["translationOfWork"] = {"@id": f"{site_url}{url_for('pages.index')}#webpage"}
        if reviewer := clinic.es_reviewer or article.translation_reviewer:
            data["contributor"] = {"@type": "Person", "name": reviewer, "description": "Translation reviewer"}
    return data


def faq_page(questions, url: str, lang: str) -> dict[str, Any]:
    """The published readers' questions as a FAQPage: exactly what the "Readers asked" section shows."""
    return {
        "@type": "FAQPage",
        "@id": f"{url}#readers-asked",
        "inLanguage": REGIONAL[lang],
        "mainEntity": [
            {
                "@type": "Question",
                "name": q.public_text,
                "datePublished": q.published_at.date().isoformat(),
                "acceptedAnswer": {
                    "@type": "Answer",
                    "text": q.answer,
                    "author": {"@type": "Person", "name": q.reviewer},
                },
            }
            for q in questions
        ],
    }


def structured_data(
    path: str, office: Office | None = None, lang: str = "en", questions=()
) -> dict[str, Any]:
    """The JSON-LD graph for the article at `path` in `lang`: the page, its office (or every office), and
    the published readers' questions shown on it, if any."""
    site_url = current_app.config["SITE_URL"]
    clinic = current_clinic()
    article = article_in(lang)
    offices = [office] if office else list(clinic.offices)
    return {
        "@context": "https://schema.org",
        "@graph": [
            medical_web_page(article, clinic, site_url + path, site_url),
            *(medical_clinic(o, clinic, site_url, lang) for o in offices),
            *([faq_page(questions, site_url + path, lang)] if questions else []),
        ],
    }
