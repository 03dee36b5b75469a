"""The notice's words per site and language (BannerText), for regions under the
notice-only and opt-out models; blank: the built-in words (consent.texts.NOTICE_TEXTS)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0016_sealed_months"),
    ]

    operations = [
        migrations.AddField(
            model_name="bannertext",
            name="notice_title",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="bannertext",
            name="notice_body",
            field=models.TextField(blank=True, help_text="Notice-only regions"),
        ),
        migrations.AddField(
            model_name="bannertext",
            name="opt_out_body",
            field=models.TextField(blank=True, help_text="Opt-out regions"),
        ),
        migrations.AddField(
            model_name="bannertext",
            name="ok",
            field=models.CharField(blank=True, max_length=60, verbose_name="OK button"),
        ),
        migrations.AddField(
            model_name="bannertext",
            name="opt_out",
            field=models.CharField(blank=True, max_length=60, verbose_name="Opt-out button"),
        ),
        migrations.AddField(
            model_name="bannertext",
            name="privacy_choices",
            field=models.CharField(
                blank=True,
                help_text="'Your Privacy Choices' or 'Do Not Sell or Share My Personal Information'",
                max_length=60,
                verbose_name="Opt-out link",
            ),
        ),
    ]
