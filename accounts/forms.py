from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        label="E-mail (optional)",
        required=False,
        help_text="Only to send you a link if you forget your password.",
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


class EmailForm(forms.ModelForm):
    email = forms.EmailField(
        label="E-mail",
        required=False,
        help_text="Where a password reset link goes. Leave empty to have none.",
    )

    class Meta:
        model = get_user_model()
        fields = ("email",)


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(
        label="Yes, delete everything I have watched and where I stopped",
        error_messages={"required": "Tick the box to confirm: this cannot be undone."},
    )
